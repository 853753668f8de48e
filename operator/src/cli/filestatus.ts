/**
 * `kustodian filestatus FILE`, as `sops filestatus`: prints `{"encrypted":true}` when the file carries sops
 * metadata with a version and a MAC, `{"encrypted":false}` when it has none; an unreadable or unparsable file
 * fails (exit code 1, as sops).
 *
 * @module
 */
import { Effect } from "effect"
import { readMetadata } from "../sops/decrypt.ts"
import { formatForPath } from "../sops/index.ts"
import { storeFor } from "../sops/stores/store.ts"
import { value } from "./args.ts"
import { readInput, writeStdout } from "./io.ts"
import { formatOption } from "./options.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"

export const filestatusUsage = `usage: kustodian filestatus [flags] FILE
  print {"encrypted":true} or {"encrypted":false} for FILE, as sops filestatus
  --input-type TYPE    yaml|json|dotenv|ini|binary (default: by extension)
  -h, --help           this text`

/** `kustodian filestatus …` */
export const filestatusCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(argv, { values: ["input-type"], flags: [] }, filestatusUsage)
    const file = p.positional[0]
    if (file === undefined)
      return yield* new ExitError({ code: codes.noFileSpecified, reason: "Error: no file specified" })
    const format = yield* formatOption(value(p, "input-type"), formatForPath(file))
    const bytes = yield* readInput(file).pipe(
      Effect.mapError(
        (e) => new ExitError({ code: codes.generic, reason: `cannot check file status: ${e.message}` }),
      ),
    )
    const read = yield* Effect.result(storeFor(format).readEncrypted(bytes))
    let encrypted: boolean
    if (read._tag === "Success") {
      // the metadata must be valid as a whole (sops: "No keys found in file", a bad lastmodified, … fail)
      const md = yield* readMetadata(file, read.success.metadata).pipe(
        Effect.mapError(
          (e) =>
            new ExitError({
              code: codes.generic,
              reason: `cannot check file status: cannot load encrypted file: ${e.reason}`,
            }),
        ),
      )
      encrypted = md.md.version !== "" && md.md.mac !== ""
    } else if (
      read.failure._tag === "StoreMetadataError" &&
      read.failure.reason === "sops metadata not found"
    )
      encrypted = false
    else
      return yield* new ExitError({
        code: codes.generic,
        reason: `cannot check file status: cannot load encrypted file: ${read.failure.message}`,
      })
    yield* writeStdout(new TextEncoder().encode(`${JSON.stringify({ encrypted })}\n`))
  })
