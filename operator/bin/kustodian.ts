#!/usr/bin/env node
/**
 * The `kustodian` executable (package `bin`). Node 24 runs this TypeScript file directly (type stripping).
 */
import { run } from "../src/cli/main.ts"

process.exitCode = await run(process.argv.slice(2))
