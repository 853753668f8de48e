/**
 * Signing keys for `spec.verify` tests, made by the real tools: an OpenPGP key by `gpg --quick-gen-key` in a
 * throw-away GNUPGHOME (its agent killed on release), an SSH key by `ssh-keygen`. Each comes with the git
 * config that signs with it and the public half a verify Secret holds.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { gpg } from "../../operator/src/sops/testing/gpg.ts"
import { tempGnupgHome } from "../../operator/src/sops/testing/peers.ts"
import { makeSshKeyPair, type Signing } from "./git-server.ts"

export interface SigningKey {
  readonly sign: Signing
  /** What a verify Secret holds for this key (armored key ring, or `ssh-ed25519 AAAA…`). */
  readonly publicKey: string
  /** How Flux names the key in SourceVerified: the primary key id (16 hex), or `SHA256:…`. */
  readonly identity: string
}

/** A passphrase-less ed25519 signing key in its own GNUPGHOME. */
export const gpgSigningKey = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => tempGnupgHome()),
    (h) => Effect.sync(() => h.dispose()),
  ).pipe(
    Effect.map(({ home }): SigningKey => {
      const email = `${name}@kustodian.test`
      gpg(home, ["--passphrase", "", "--quick-gen-key", `${name} <${email}>`, "ed25519", "sign", "never"])
      const listing = gpg(home, ["--with-colons", "--list-keys", email])
      const fp = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
      return {
        sign: { config: { "gpg.format": "openpgp", "user.signingkey": fp }, env: { GNUPGHOME: home } },
        publicKey: gpg(home, ["--armor", "--export", fp]),
        identity: fp.slice(-16),
      }
    }),
  )

/** An ed25519 SSH signing key. */
export const sshSigningKey = (name: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-sshsign-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
  ).pipe(
    Effect.flatMap((dir) => Effect.promise(() => makeSshKeyPair(dir, name))),
    Effect.flatMap((pair) =>
      Effect.sync((): SigningKey => {
        const fingerprint = execFileSync("ssh-keygen", [
          "-l",
          "-E",
          "sha256",
          "-f",
          `${pair.privateKeyFile}.pub`,
        ])
          .toString("utf8")
          .split(" ")[1]!
        return {
          sign: { config: { "gpg.format": "ssh", "user.signingkey": `${pair.privateKeyFile}.pub` } },
          publicKey: pair.publicKey,
          identity: fingerprint,
        }
      }),
    ),
  )
