// In-memory token buckets, one per key (a token id or a client address). Each bucket holds up to
// `perMinute` tokens and refills continuously at perMinute/60 per second, so a client may burst a
// full minute's allowance and then proceeds at the steady rate. State is per process: behind a
// load balancer with N instances a client gets up to N times the limit.

export type Take = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface TokenBucketOptions {
  perMinute: number;
  /** Upper bound on tracked keys, so a flood of distinct keys cannot exhaust memory. */
  maxKeys?: number;
  now?: () => number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  private readonly refillPerMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: TokenBucketOptions) {
    this.capacity = opts.perMinute;
    this.refillPerMs = opts.perMinute / 60_000;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** A limit of 0 means unlimited. */
  get enabled(): boolean {
    return this.capacity > 0;
  }

  /** Spends one token; refuses (spending nothing) when none is left. */
  take(key: string): Take {
    if (!this.enabled) return { allowed: true };
    const bucket = this.refill(key);
    if (bucket.tokens < 1) return this.refusal(bucket);
    bucket.tokens -= 1;
    this.store(key, bucket);
    return { allowed: true };
  }

  /** Whether `take` would be allowed now, without spending anything. */
  check(key: string): Take {
    if (!this.enabled) return { allowed: true };
    const existing = this.buckets.get(key);
    if (!existing) return { allowed: true };
    const bucket = this.refill(key);
    return bucket.tokens < 1 ? this.refusal(bucket) : { allowed: true };
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string): Bucket {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, updatedMs: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + Math.max(0, now - bucket.updatedMs) * this.refillPerMs);
    bucket.updatedMs = now;
    return bucket;
  }

  private refusal(bucket: Bucket): Take {
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000)) };
  }

  private store(key: string, bucket: Bucket): void {
    // Re-inserting keeps the map in least-recently-used order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.evict();
  }

  /** Drops buckets that have refilled completely (they behave like absent ones), then the oldest. */
  private evict(): void {
    const now = this.now();
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedMs) * this.refillPerMs >= this.capacity) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys * 0.9) break;
      this.buckets.delete(key);
    }
  }
}
