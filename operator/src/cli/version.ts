/**
 * `kustodian --version` / `kustodian version`: the package's version, inlined by the bundle (scripts/bundle.ts),
 * so the built package and the single-file executable print the version they were built from.
 *
 * @module
 */
import pkg from "../../../package.json" with { type: "json" }

export const version: string = pkg.version

export const versionLine = `kustodian ${version}\n`
