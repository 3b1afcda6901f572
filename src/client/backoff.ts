/** Jittered exponential back-off: attempt n waits a random time in [base/2, base], base = min(max, min * 2^n). */

export interface BackoffOptions {
  /** First retry base delay in ms (default 1000: the first retry comes within about 1 s). */
  readonly minMs?: number;
  /** Cap in ms (default 10000). */
  readonly maxMs?: number;
}

export class Backoff {
  private attempt = 0;
  readonly minMs: number;
  readonly maxMs: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.minMs = options.minMs ?? 1000;
    this.maxMs = options.maxMs ?? 10000;
  }

  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
