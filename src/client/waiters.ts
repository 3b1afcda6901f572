/** Conditions the client's callers wait for (established, synced), re-checked on every change. */

import { ClosedError, type MetalBondError } from '../errors.js';

export class Waiters {
  private readonly checks = new Set<() => void>();

  constructor(
    /** Whether the client is shut down (every waiter then rejects with ClosedError). */
    private readonly isClosed: () => boolean,
  ) {}

  /**
   * Resolves once `cond()` holds (at once if it does now); rejects with `timeoutError()` after
   * `timeoutMs` (never without), with ClosedError when the client shuts down first.
   */
  async until(
    cond: () => boolean,
    timeoutMs: number | undefined,
    timeoutError: () => MetalBondError,
  ): Promise<void> {
    if (cond()) return;
    if (this.isClosed()) throw new ClosedError('client is shut down');
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: MetalBondError): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.checks.delete(check);
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = (): void => {
        if (cond()) done();
        else if (this.isClosed()) done(new ClosedError('client is shut down'));
      };
      this.checks.add(check);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done(timeoutError());
        }, timeoutMs);
      }
    });
  }

  /** Something changed: every waiter checks its condition again. */
  changed(): void {
    for (const check of [...this.checks]) check();
  }
}
