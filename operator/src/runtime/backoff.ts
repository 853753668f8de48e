/**
 * Delay arithmetic for the work queue: per-key exponential backoff with jitter and a cap, an overall
 * token bucket, and interval jitter. Pure functions over explicit randomness and time so they can be
 * tested exactly; the queue supplies `Math.random` and the clock.
 */

export interface BackoffPolicy {
  /** First retry delay (ms). */
  readonly baseMs: number
  /** Largest retry delay (ms). */
  readonly capMs: number
  /** Multiplier per failure. */
  readonly factor: number
  /** Relative jitter: a delay d becomes uniform in [d·(1−j), d·(1+j)], then capped. */
  readonly jitter: number
}

/** controller-runtime starts at 5 ms; Flux objects retry on the order of seconds, so start at 1 s. */
export const defaultBackoff: BackoffPolicy = { baseMs: 1_000, capMs: 5 * 60_000, factor: 2, jitter: 0.2 }

/** The delay before retry number `failures` (1 = first failure). */
export const backoffDelay = (policy: BackoffPolicy, failures: number, random: number): number => {
  const exponent = Math.max(0, failures - 1)
  // Cap before jitter so huge exponents never overflow to Infinity.
  const raw = Math.min(policy.capMs, policy.baseMs * policy.factor ** Math.min(exponent, 64))
  const jittered = raw * (1 - policy.jitter + 2 * policy.jitter * random)
  return Math.min(policy.capMs, Math.max(0, Math.round(jittered)))
}

/** Requeue delay after a success: the object's interval plus up to `fraction` more (Flux's jitter.Percent). */
export const intervalWithJitter = (intervalMs: number, fraction: number, random: number): number =>
  Math.round(intervalMs * (1 + fraction * random))

/**
 * A token bucket (client-go's BucketRateLimiter): `qps` tokens a second, at most `burst` saved.
 * `reserve` returns how long the caller must wait for its token.
 */
export interface TokenBucket {
  readonly qps: number
  readonly burst: number
  tokens: number
  lastMs: number
}

export const makeTokenBucket = (qps: number, burst: number, nowMs: number): TokenBucket => ({
  qps,
  burst,
  tokens: burst,
  lastMs: nowMs,
})

export const reserve = (bucket: TokenBucket, nowMs: number): number => {
  const elapsed = Math.max(0, nowMs - bucket.lastMs)
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + (elapsed / 1000) * bucket.qps)
  bucket.lastMs = nowMs
  bucket.tokens -= 1
  return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens / bucket.qps) * 1000)
}
