/**
 * File formats sops knows, and how it picks one from a file name (shared with the stores).
 *
 * @module
 */
export { type Format, formatForPath, formats, parseFormat } from "./stores/store.ts"

import { type Format, formats } from "./stores/store.ts"

export const isFormat = (s: string): s is Format => (formats as ReadonlyArray<string>).includes(s)
