/**
 * `kustodian groups add|delete`, as `sops groups`: add a key group (`--age`, `--pgp`, … for its keys) or delete
 * one by index, with `--shamir-secret-sharing-threshold` to change the threshold. The data key stays; every key
 * wraps its new Shamir share. Values, `lastmodified` and the MAC are untouched. Output to stdout, or FILE with
 * `-i`. Unlike sops, a key that does not parse or fails to wrap is an error, not a logged and dropped key.
 *
 * @module
 */
import { Effect } from "effect"
import { recoverDataKey } from "../sops/datakey.ts"
import { fromStoreError, readMetadata } from "../sops/decrypt.ts"
import { formatForPath, type KeyRecipient } from "../sops/index.ts"
import { servicesFor } from "../sops/keys/services.ts"
import { toBranch } from "../sops/metadata.ts"
import { splitList } from "../sops/recipients.ts"
import { rewrapKeys } from "../sops/rewrite.ts"
import { storeFor } from "../sops/stores/store.ts"
import { all, type Parsed, UsageError, value } from "./args.ts"
import { flagRecipient, keyFlags } from "./encrypt.ts"
import { readInput, writeFileAtomic, writeStdout } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { intOption } from "./options.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { decryptionOrder } from "./sops-file.ts"

export const groupsUsage = `usage: kustodian groups add -f FILE [--age R] [--pgp FP] … [flags]
       kustodian groups delete -f FILE INDEX [flags]
  add a key group to FILE, or delete the key group at INDEX (0-based); the data key stays the same
  -f, --file FILE              the sops file
  ${keyFlags.map((f) => `--${f}`).join(", ")}
                               (add) the new group's keys; repeatable and comma-separated
  --encryption-context k:v,…   (add) KMS encryption context    --aws-profile NAME (add) the KMS keys' profile
  --shamir-secret-sharing-threshold N   the new Shamir threshold
  -i, --in-place               write back to FILE (default stdout)
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

const newGroup = (p: Parsed) =>
  Effect.try({
    try: () => {
      const context = Object.fromEntries(
        splitList(value(p, "encryption-context") ?? "").map((kv) => {
          const i = kv.indexOf(":")
          if (i < 0) throw new UsageError(`--encryption-context entry ${JSON.stringify(kv)} is not key:value`)
          return [kv.slice(0, i), kv.slice(i + 1)]
        }),
      )
      const group: Array<KeyRecipient> = []
      // sops' order within a group: pgp, kms, gcp-kms, vault, azure-kv, age (the file groups them by type)
      for (const f of keyFlags)
        for (const s of all(p, f).flatMap(splitList)) {
          const r = flagRecipient(f, s, context, value(p, "aws-profile") ?? "")
          if (r === undefined) throw new UsageError(`invalid --${f} value ${JSON.stringify(s)}`)
          group.push(r)
        }
      return group
    },
    catch: (e) => (e instanceof UsageError ? e : new UsageError(String(e))),
  })

/** `kustodian groups add|delete …` */
export const groupsCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const [sub, ...rest] = argv
    if (sub === "--help" || sub === "-h" || sub === undefined)
      return yield* parseCommand(["--help"], { values: [], flags: [] }, groupsUsage).pipe(Effect.asVoid)
    if (sub !== "add" && sub !== "delete")
      return yield* Effect.fail(new UsageError(`unknown groups command ${JSON.stringify(sub)} (add, delete)`))
    const p = yield* parseCommand(
      rest,
      {
        values: [
          "file",
          "shamir-secret-sharing-threshold",
          "decryption-order",
          ...(sub === "add" ? [...keyFlags, "encryption-context", "aws-profile"] : []),
        ],
        flags: ["in-place"],
        aliases: { f: "file", i: "in-place" },
      },
      groupsUsage,
    )
    const threshold =
      (yield* intOption(value(p, "shamir-secret-sharing-threshold"), "shamir-secret-sharing-threshold")) ?? 0
    let index = 0
    if (sub === "add") {
      if (p.positional.length !== 0)
        return yield* new ExitError({ code: codes.generic, reason: "error: no positional arguments allowed" })
    } else {
      if (p.positional.length !== 1)
        return yield* new ExitError({
          code: codes.generic,
          reason: "error: exactly one positional argument (index) required",
        })
      const text = p.positional[0]!
      if (!/^\d+$/.test(text) || Number(text) > 0xffffffff)
        return yield* new ExitError({
          code: codes.generic,
          reason: `failed to parse [index] argument: ${JSON.stringify(text)} is not an unsigned integer`,
        })
      index = Number(text)
    }
    const group = sub === "add" ? yield* newGroup(p) : []
    if (sub === "add" && group.length === 0)
      return yield* Effect.fail(new UsageError("groups add: give the new group's keys (--age, --pgp, …)"))
    const order = yield* decryptionOrder(p, env)
    const file = value(p, "file") ?? ""
    const format = formatForPath(file)
    const bytes = yield* readInput(file)
    const parsed = yield* storeFor(format)
      .readEncrypted(bytes)
      .pipe(Effect.mapError(fromStoreError(file)))
    const { md } = yield* readMetadata(file, parsed.metadata)
    const keyring = cliKeyring(env)
    const dataKey = yield* recoverDataKey(
      file,
      md.keyGroups,
      md.shamirThreshold,
      servicesFor(keyring),
      order,
    ).pipe(Effect.mapError((e) => new ExitError({ code: codes.generic, reason: e.message })))
    let groups = [...md.keyGroups] as Array<ReadonlyArray<KeyRecipient>>
    if (sub === "add") groups.push(group)
    else {
      if (index >= groups.length)
        return yield* new ExitError({
          code: codes.generic,
          reason: `there is no key group ${index}: the file has ${groups.length} (0 to ${groups.length - 1})`,
        })
      groups = groups.filter((_, i) => i !== index)
    }
    const wanted = threshold !== 0 ? threshold : md.shamirThreshold
    if (sub === "delete" && groups.length < wanted)
      return yield* new ExitError({
        code: codes.generic,
        reason: `removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is ${wanted}, but we only have ${groups.length} key groups`,
      })
    const wrapped = yield* rewrapKeys({ file, dataKey, groups, threshold: wanted, keyring }).pipe(
      Effect.mapError(
        (e) => new ExitError({ code: codes.generic, reason: `cannot wrap the data key: ${e.reason}` }),
      ),
    )
    const out = yield* storeFor(format)
      .writeEncrypted(
        parsed.documents,
        toBranch({ ...md, keyGroups: wrapped.keyGroups, shamirThreshold: wrapped.shamirThreshold }),
      )
      .pipe(Effect.mapError(fromStoreError(file)))
    if (p.flags.has("in-place")) yield* writeFileAtomic(file, out)
    else yield* writeStdout(out)
  })
