/** Back-off for transient netlink errors: one timer for all waiting items. */

export class RetryScheduler<T> {
  private readonly due = new Map<T, number>();
  private readonly attempts = new Map<T, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly fire: (items: T[]) => void,
  ) {}

  /** Schedules `item` after a back-off that doubles with each consecutive failure (jittered). */
  schedule(item: T): void {
    const n = this.attempts.get(item) ?? 0;
    this.attempts.set(item, n + 1);
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(n, 20));
    const at = Date.now() + base / 2 + Math.random() * (base / 2);
    this.due.set(item, at);
    if (at < this.timerAt) this.arm(at);
  }

  /** The item succeeded: its back-off starts over. */
  succeeded(item: T): void {
    this.attempts.delete(item);
  }

  isWaiting(item: T): boolean {
    return this.due.has(item);
  }

  get size(): number {
    return this.due.size;
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.due.clear();
    this.attempts.clear();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.run();
      },
      Math.max(0, at - Date.now()),
    );
    this.timer.unref();
  }

  private run(): void {
    const now = Date.now();
    const ready: T[] = [];
    let next = Infinity;
    for (const [item, at] of this.due) {
      if (at <= now) ready.push(item);
      else next = Math.min(next, at);
    }
    for (const item of ready) this.due.delete(item);
    if (next !== Infinity) this.arm(next);
    if (ready.length > 0) this.fire(ready);
  }
}
