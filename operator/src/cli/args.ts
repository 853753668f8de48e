/**
 * A small sops-style argument parser: `--flag value`, `--flag=value`, boolean flags, repeated flags, `--`.
 *
 * @module
 */

export interface Parsed {
  readonly positional: ReadonlyArray<string>
  readonly values: ReadonlyMap<string, ReadonlyArray<string>>
  readonly flags: ReadonlySet<string>
}

/** A usage mistake, reported as one line with exit code 1 (sops: conflicting/invalid parameters). */
export class UsageError extends Error {
  override readonly name: string = "UsageError"
}

/**
 * A flag the command does not take, a flag without its value, or a missing or extra argument: exit code 2 with a
 * hint in every command, `decrypt` and `encrypt` included (whose other usage mistakes keep sops' exit code 1).
 */
export class ArgumentError extends UsageError {
  override readonly name = "ArgumentError"
}

export interface Spec {
  /** Flags taking a value (names without dashes). */
  readonly values: ReadonlyArray<string>
  /** Boolean flags. */
  readonly flags: ReadonlyArray<string>
  /** Short aliases, e.g. `{ i: "in-place" }`. */
  readonly aliases?: Readonly<Record<string, string>>
}

export const parseArgs = (argv: ReadonlyArray<string>, spec: Spec): Parsed => {
  const positional: Array<string> = []
  const values = new Map<string, Array<string>>()
  const flags = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--") {
      positional.push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(a)
      continue
    }
    const body = a.replace(/^--?/, "")
    const eq = body.indexOf("=")
    let name = eq >= 0 ? body.slice(0, eq) : body
    name = spec.aliases?.[name] ?? name
    if (spec.flags.includes(name)) {
      if (eq >= 0 && !/^(true|false)$/.test(body.slice(eq + 1)))
        throw new ArgumentError(`flag --${name} takes no value`)
      if (eq < 0 || body.slice(eq + 1) === "true") flags.add(name)
      continue
    }
    if (!spec.values.includes(name)) throw new ArgumentError(`unknown flag ${a.split("=")[0]}`)
    let v: string
    if (eq >= 0) v = body.slice(eq + 1)
    else {
      const next = argv[i + 1]
      if (next === undefined) throw new ArgumentError(`flag --${name} needs a value`)
      v = next
      i++
    }
    values.set(name, [...(values.get(name) ?? []), v])
  }
  return { positional, values, flags }
}

/** The last value of a flag. */
export const value = (p: Parsed, name: string): string | undefined => p.values.get(name)?.at(-1)
/** All values of a repeatable flag. */
export const all = (p: Parsed, name: string): ReadonlyArray<string> => p.values.get(name) ?? []
