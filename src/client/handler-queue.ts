/**
 * Calls into the user's RouteHandler, bounded: at most `max` calls whose promise has not settled
 * yet. Calls beyond the bound wait in order (and the client stops reading from its servers while
 * any wait, so nothing is lost and nothing piles up), calls for one route never overlap, and a
 * barrier runs once every call before it has settled. Synchronous handlers cost one check.
 */

type Task =
  | { readonly key: string; readonly run: () => unknown }
  | { readonly key: undefined; readonly run: () => void };

export class HandlerQueue {
  private inFlight = 0;
  /** Routes with a call in flight. */
  private readonly busy = new Set<string>();
  private queue: Task[] = [];
  private head = 0;
  private saturated = false;

  constructor(
    /** Most calls in flight. */
    readonly max: number,
    /** The queue filled up (true) or emptied (false): stop or resume reading. */
    private readonly onSaturated: (saturated: boolean) => void,
  ) {}

  /** Calls in flight. */
  get pending(): number {
    return this.inFlight;
  }

  /** Calls and barriers waiting for room. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * Makes a handler call for route `key` now, or when there is room and its route is free. `run`
   * handles its own errors (it must not throw; its promise never rejects).
   */
  call(key: string, run: () => unknown): void {
    if (this.canStart(key)) {
      this.started(key, run());
      return;
    }
    this.queue.push({ key, run });
    this.update();
  }

  /**
   * Whether a call for `key` may run now (nothing waits, there is room, its route is free): the
   * caller then runs it itself and hands its result to started(), with no closure to allocate.
   */
  canStart(key: string): boolean {
    return (
      this.head === this.queue.length &&
      this.inFlight < this.max &&
      (this.busy.size === 0 || !this.busy.has(key))
    );
  }

  /** A call for `key` ran (after canStart()); `result` is what it returned. */
  started(key: string, result: unknown): void {
    if (!(result instanceof Promise)) return;
    this.inFlight++;
    this.busy.add(key);
    if (this.inFlight >= this.max) this.update();
    const settled = (): void => {
      this.settled(key);
    };
    result.then(settled, settled);
  }

  /** Runs `run` once every call made or queued before it has settled. */
  barrier(run: () => void): void {
    if (this.head === this.queue.length && this.inFlight === 0) {
      run();
      return;
    }
    this.queue.push({ key: undefined, run });
    this.update();
  }

  private settled(key: string): void {
    this.inFlight--;
    this.busy.delete(key);
    this.drain();
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const t = this.queue[this.head] as Task;
      if (t.key === undefined) {
        if (this.inFlight > 0) break;
        this.head++;
        t.run();
      } else {
        if (this.inFlight >= this.max || this.busy.has(t.key)) break;
        this.head++;
        this.started(t.key, t.run());
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    this.update();
  }

  private update(): void {
    const saturated = this.head < this.queue.length || this.inFlight >= this.max;
    if (saturated === this.saturated) return;
    this.saturated = saturated;
    this.onSaturated(saturated);
  }
}
