/**
 * The `gpg` binary as a PGP fallback, like sops: `SOPS_GPG_EXEC` (default `gpg`) with the user's `GNUPGHOME`.
 *
 * @module
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"

export interface GpgOptions {
  /** Binary to run; defaults to `gpg`. */
  readonly exec?: string
  /** `GNUPGHOME` for the child; defaults to the inherited one. */
  readonly home?: string
}

const run = (opts: GpgOptions, args: ReadonlyArray<string>, input: Uint8Array) =>
  Effect.tryPromise({
    try: (signal) =>
      new Promise<Buffer>((resolve, reject) => {
        const env = { ...process.env }
        if (opts.home !== undefined) env.GNUPGHOME = opts.home
        const child = spawn(opts.exec ?? "gpg", args, { env, signal, stdio: ["pipe", "pipe", "pipe"] })
        const out: Array<Buffer> = []
        const err: Array<Buffer> = []
        child.stdout.on("data", (b: Buffer) => out.push(b))
        child.stderr.on("data", (b: Buffer) => err.push(b))
        child.on("error", reject)
        child.on("close", (code) => {
          if (code === 0) resolve(Buffer.concat(out))
          else {
            const last = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-2).join(" / ")
            reject(new Error(`gpg exited with ${code}${last ? `: ${last}` : ""}`))
          }
        })
        child.stdin.on("error", () => {})
        child.stdin.end(input)
      }),
    catch: (e) => new KeyFailure({ reason: e instanceof Error ? e.message : String(e) }),
  })

/** Decrypts an armored message with `gpg -d`; an empty result is a failure (old GnuPG vs AEAD packets). */
export const gpgDecrypt = (opts: GpgOptions, armored: string) =>
  run(opts, ["--batch", "--no-tty", "--quiet", "-d"], new TextEncoder().encode(armored)).pipe(
    Effect.flatMap((out) =>
      out.length === 0
        ? Effect.fail(new KeyFailure({ reason: "gpg returned an empty data key" }))
        : Effect.succeed(new Uint8Array(out)),
    ),
  )

/** Encrypts a data-key part to a fingerprint with `gpg --encrypt -a`, as sops invokes it. */
export const gpgEncrypt = (opts: GpgOptions, fp: string, part: Uint8Array) =>
  run(
    opts,
    [
      "--batch",
      "--no-tty",
      "--no-default-recipient",
      "--yes",
      "--encrypt",
      "-a",
      "-r",
      fp,
      "--trusted-key",
      fp.slice(-16),
      "--no-encrypt-to",
    ],
    part,
  ).pipe(Effect.map((out) => out.toString("utf8").trim()))
