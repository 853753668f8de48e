/**
 * Byte/text helpers shared by the stores. Go strings are byte sequences; ours are JS strings, so text formats
 * decode UTF-8 (invalid sequences become U+FFFD, as Go's JSON decoder does) and keep a BOM as a character.
 *
 * @module
 */

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })
const encoder = new TextEncoder()

export const decodeUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)
export const encodeUtf8 = (text: string): Uint8Array => encoder.encode(text)

/** 1-based line and column of an offset in a text. */
export const lineColumn = (text: string, offset: number): { line: number; column: number } => {
  let line = 1
  let start = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      start = i + 1
    }
  }
  return { line, column: offset - start + 1 }
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** UTF-8 that must be valid (go-yaml rejects invalid octets); `undefined` when it is not. */
export const decodeUtf8Strict = (bytes: Uint8Array): string | undefined => {
  try {
    return strict.decode(bytes)
  } catch {
    return undefined
  }
}
