/**
 * Shared option parsing for the CLI commands.
 *
 * @module
 */
import { Effect } from "effect"
import { type Format, isFormat } from "../sops/format.ts"
import { UsageError } from "./args.ts"

export const formatOption = (
  given: string | undefined,
  fallback: Format,
): Effect.Effect<Format, UsageError> =>
  given === undefined
    ? Effect.succeed(fallback)
    : isFormat(given)
      ? Effect.succeed(given)
      : Effect.fail(
          new UsageError(`unknown file type ${JSON.stringify(given)} (yaml, json, dotenv, ini, binary)`),
        )

export const intOption = (
  given: string | undefined,
  name: string,
): Effect.Effect<number | undefined, UsageError> =>
  given === undefined
    ? Effect.succeed(undefined)
    : /^-?\d+$/.test(given)
      ? Effect.succeed(Number(given))
      : Effect.fail(new UsageError(`--${name} needs an integer`))
