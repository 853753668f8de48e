/**
 * The format names and typed errors shared by every SOPS store. Errors name the line/column and key path of the
 * problem, never a value from the file.
 *
 * @module
 */
import { Data } from "effect"

/** The five sops stores, named as sops' `--input-type`/`--output-type` values. */
export type Format = "yaml" | "json" | "dotenv" | "ini" | "binary"

export const formats: ReadonlyArray<Format> = ["yaml", "json", "dotenv", "ini", "binary"]

/** Where a problem sits in the input: 1-based line/column when known, and the key path from the root. */
export interface Location {
  readonly line?: number
  readonly column?: number
  readonly path?: ReadonlyArray<string>
}

const describe = (format: Format, loc: Location, reason: string): string => {
  const where: Array<string> = []
  if (loc.line !== undefined)
    where.push(`line ${loc.line}${loc.column !== undefined ? `:${loc.column}` : ""}`)
  if (loc.path !== undefined && loc.path.length > 0) where.push(`key ${loc.path.join(":")}`)
  return `${format}: ${reason}${where.length > 0 ? ` (${where.join(", ")})` : ""}`
}

/** The input is not a valid file of this format, or uses something sops rejects (duplicate keys, top-level list…). */
export class StoreParseError extends Data.TaggedError("StoreParseError")<
  { readonly format: Format; readonly reason: string } & Location
> {
  override get message(): string {
    return describe(this.format, this, this.reason)
  }
}

/** The tree cannot be written in this format (nested value in dotenv, NaN in JSON, non-string binary data…). */
export class StoreEmitError extends Data.TaggedError("StoreEmitError")<
  { readonly format: Format; readonly reason: string } & Location
> {
  override get message(): string {
    return describe(this.format, this, this.reason)
  }
}

/** The `sops` metadata entry is missing, duplicated, not a mapping, or its flattened form cannot be unflattened. */
export class StoreMetadataError extends Data.TaggedError("StoreMetadataError")<
  { readonly format: Format; readonly reason: string } & Location
> {
  override get message(): string {
    return describe(this.format, this, this.reason)
  }
}

export type StoreError = StoreParseError | StoreEmitError | StoreMetadataError

export const isStoreError = (u: unknown): u is StoreError =>
  u instanceof StoreParseError || u instanceof StoreEmitError || u instanceof StoreMetadataError

/** Shorthand used by the stores' synchronous cores. */
export const parseError = (format: Format, reason: string, loc: Location = {}): StoreParseError =>
  new StoreParseError({ format, reason, ...loc })
export const emitError = (format: Format, reason: string, loc: Location = {}): StoreEmitError =>
  new StoreEmitError({ format, reason, ...loc })
export const metadataError = (format: Format, reason: string, loc: Location = {}): StoreMetadataError =>
  new StoreMetadataError({ format, reason, ...loc })
