/**
 * Bounded capture of a child's output. A git server decides what `git` prints (`remote: …` lines), so what we
 * keep must not grow with it: stderr keeps its first and last {@link stderrKeep} bytes and only counts the
 * rest; stdout (which callers parse, so it cannot be cut) is refused past a cap.
 *
 * @module
 */

/** Bytes kept from each end of stderr. */
export const stderrKeep = 16 * 1024

/** The first and last `keep` bytes of a stream, in memory bounded by `2 × keep` whatever the stream's size. */
export class HeadTailCapture {
  private readonly keep: number
  private readonly head: Buffer
  private headLength = 0
  /** Ring buffer of the most recent bytes after the head. */
  private readonly ring: Buffer
  private ringStart = 0
  private ringLength = 0
  private total = 0

  constructor(keep: number = stderrKeep) {
    this.keep = keep
    this.head = Buffer.alloc(keep)
    this.ring = Buffer.alloc(keep)
  }

  push(chunk: Buffer): void {
    this.total += chunk.length
    let rest = chunk
    if (this.headLength < this.keep) {
      const n = Math.min(this.keep - this.headLength, rest.length)
      rest.copy(this.head, this.headLength, 0, n)
      this.headLength += n
      rest = rest.subarray(n)
    }
    if (rest.length === 0) return
    // Only the last `keep` bytes of this chunk can survive.
    if (rest.length > this.keep) rest = rest.subarray(rest.length - this.keep)
    for (let off = 0; off < rest.length; ) {
      const end = (this.ringStart + this.ringLength) % this.keep
      const n = Math.min(rest.length - off, this.keep - end)
      rest.copy(this.ring, end, off, off + n)
      off += n
      const overflow = Math.max(0, this.ringLength + n - this.keep)
      this.ringLength = Math.min(this.keep, this.ringLength + n)
      this.ringStart = (this.ringStart + overflow) % this.keep
    }
  }

  /** Bytes seen in all. */
  get size(): number {
    return this.total
  }

  /**
   * The captured text. When bytes were dropped, the head is cut after its last newline and the tail starts
   * after its first, so no half line (half a URL or token, which redaction could no longer recognise) is kept.
   */
  text(): string {
    const head = this.head.subarray(0, this.headLength)
    const tail = Buffer.concat([
      this.ring.subarray(this.ringStart, Math.min(this.keep, this.ringStart + this.ringLength)),
      this.ring.subarray(0, Math.max(0, this.ringStart + this.ringLength - this.keep)),
    ])
    const omitted = this.total - this.headLength - this.ringLength
    if (omitted === 0) return Buffer.concat([head, tail]).toString("utf8")
    const headEnd = head.lastIndexOf(0x0a)
    const keptHead = headEnd < 0 ? Buffer.alloc(0) : head.subarray(0, headEnd + 1)
    const tailStart = tail.indexOf(0x0a)
    const keptTail = tailStart < 0 ? Buffer.alloc(0) : tail.subarray(tailStart + 1)
    const dropped = this.total - keptHead.length - keptTail.length
    return `${keptHead.toString("utf8")}[… ${dropped} bytes omitted …]\n${keptTail.toString("utf8")}`
  }
}

/** All of a stream up to `max` bytes; past that it stops storing and reports the overflow. */
export class CappedCapture {
  private readonly max: number
  private readonly chunks: Buffer[] = []
  private length = 0
  private over = false

  constructor(max: number) {
    this.max = max
  }

  /** False once the stream has passed the cap (the chunk is not stored). */
  push(chunk: Buffer): boolean {
    if (this.over) return false
    if (this.length + chunk.length > this.max) {
      this.over = true
      this.chunks.length = 0
      return false
    }
    this.chunks.push(chunk)
    this.length += chunk.length
    return true
  }

  get overflowed(): boolean {
    return this.over
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8")
  }
}
