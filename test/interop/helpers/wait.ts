/** Bounded waiting: poll a condition with a deadline, or wait for an event-driven signal. */

import { createServer } from 'node:net';

export class WaitTimeoutError extends Error {}

/** Thrown by a pollUntil() probe to end the wait at once (other errors are retried). */
export class PollAbort extends Error {}

/**
 * Re-evaluates `probe` every `intervalMs` until it returns a value other than `undefined`, and
 * returns that value. Throws after `timeoutMs` with `what` and the last probe description.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
  describe?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      lastError = undefined;
    } catch (e) {
      if (e instanceof PollAbort) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const extra = describe?.() ?? '';
      const err = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new WaitTimeoutError(
        `timeout after ${String(timeoutMs)} ms waiting for ${what}${err}${extra === '' ? '' : `\n${extra}`}`,
      );
    }
    await delay(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

/** A plain timer. Only for pacing and for "nothing happens during this time" checks. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A set of waiters woken whenever something changes (a line arrives, a route is recorded, ...);
 * each waiter re-checks its own condition.
 */
export class Signal {
  private waiters: (() => void)[] = [];

  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `cond()` is true, re-checking on every notify(); bounded by `timeoutMs`. */
  async until(
    cond: () => boolean,
    timeoutMs: number,
    what: string,
    describe?: () => string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const extra = describe?.() ?? '';
        throw new WaitTimeoutError(
          `timeout after ${String(timeoutMs)} ms waiting for ${what}${extra === '' ? '' : `\n${extra}`}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/**
 * A TCP port on [::1] that was free a moment ago (bound and released). There is a small window in
 * which another process could take it; the peers we start fail loudly if that happens.
 */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '::1', resolve);
  });
  const a = srv.address();
  await new Promise<void>((resolve) => {
    srv.close(() => {
      resolve();
    });
  });
  if (a === null || typeof a !== 'object') throw new Error('no address for a free port');
  return a.port;
}
