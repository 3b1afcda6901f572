/** A RouteHandler that records every call and lets tests wait for a state without sleeping. */

import type { TestContext } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import type { ClientOptions, RouteHandler } from '../../src/client/types.js';
import { formatRoute, type Route } from '../../src/model/route.js';

export class Recorder implements RouteHandler {
  readonly calls: string[] = [];
  private waiters: (() => void)[] = [];

  addRoute(vni: number, route: Route): void {
    this.record(`add ${String(vni)} ${formatRoute(route)}`);
  }

  removeRoute(vni: number, route: Route): void {
    this.record(`remove ${String(vni)} ${formatRoute(route)}`);
  }

  private record(line: string): void {
    this.calls.push(line);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Routes currently held (adds minus removes), sorted. */
  held(): string[] {
    const held = new Map<string, number>();
    for (const c of this.calls) {
      const [action, ...rest] = c.split(' ');
      const k = rest.join(' ');
      held.set(k, (held.get(k) ?? 0) + (action === 'add' ? 1 : -1));
    }
    return [...held]
      .filter(([, n]) => n > 0)
      .map(([k]) => k)
      .sort();
  }

  async until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timeout waiting for ${what}; calls: ${JSON.stringify(this.calls)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitCalls(n: number, timeoutMs = 5000): Promise<void> {
    await this.until(() => this.calls.length >= n, timeoutMs, `${String(n)} handler calls`);
  }
}

/** A RouteHandler that only counts (a Recorder's strings would be too many at 100,000 routes). */
export class CountingHandler implements RouteHandler {
  adds = 0;
  removes = 0;
  /** The routes removed, as `VNI route` lines. */
  readonly removed: string[] = [];

  addRoute(): void {
    this.adds++;
  }

  removeRoute(vni: number, route: Route): void {
    this.removes++;
    this.removed.push(`${String(vni)} ${formatRoute(route)}`);
  }
}

/** A connected client with a recorder; shut down after the test. */
export function client(
  t: TestContext,
  servers: string[],
  options: ClientOptions = {},
): { client: MetalBondClient; rec: Recorder } {
  const rec = new Recorder();
  const c = MetalBondClient.connect(servers, rec, {
    backoffMinMs: 50,
    backoffMaxMs: 200,
    ...options,
  });
  t.after(() => c.shutdown());
  return { client: c, rec };
}

/** Waits for a client predicate, re-checked on every client event and every 10 ms. */
export async function clientUntil(
  c: MetalBondClient,
  cond: () => boolean,
  timeoutMs = 5000,
  what = 'client condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timeout waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        c.off('server', done);
        c.off('route', done);
        resolve();
      };
      const t = setTimeout(done, Math.min(left, 10));
      c.on('server', done);
      c.on('route', done);
    });
  }
}
