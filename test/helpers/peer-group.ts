/**
 * Well-behaved peers for the fuzzer, the soak and the fault tests: MetalBondClient instances that
 * announce routes of every kind, subscribe to their VNI, churn, and check that their views are
 * exact: a client of VNI v holds exactly the routes the other clients of v currently announce.
 */

import { MetalBondClient } from '../../src/client/client.js';
import type { ServerStateEvent } from '../../src/client/types.js';
import type { Logger } from '../../src/log.js';
import { formatRoute, nextHop, type Route, type Vni } from '../../src/model/route.js';
import { routeKey } from '../../src/model/wire-route.js';
import { SessionState } from '../../src/session/state.js';

/**
 * The n-th route of peer `peer`: a /32 in 10.0.0.0/8 (or a /128 in 2001:db8::/32 for every 4th),
 * via fd00::<peer>, of every kind in turn (STANDARD, NAT with ports, LB, STANDARD with a target
 * VNI). Unique for up to 262,144 peers as long as a peer holds at most 64 consecutive n at once.
 */
export function peerRoute(peer: number, n: number): Route {
  const id = peer * 64 + (n % 64);
  const hop = `fd00::${(peer + 1).toString(16)}`;
  const kind = n % 4;
  const destination =
    kind === 3
      ? {
          family: 6 as const,
          address: `2001:db8:${(peer + 1).toString(16)}::${((n % 4096) + 1).toString(16)}`,
          prefixLength: 128,
        }
      : {
          family: 4 as const,
          address: `10.${String((id >> 16) & 255)}.${String((id >> 8) & 255)}.${String(id & 255)}`,
          prefixLength: 32,
        };
  const h =
    kind === 1
      ? nextHop(hop, {
          type: 'NAT',
          natPortRangeFrom: 1024 * (n % 8),
          natPortRangeTo: 1024 * (n % 8) + 1023,
        })
      : kind === 2
        ? nextHop(hop, { type: 'LOADBALANCER_TARGET' })
        : nextHop(hop, { targetVni: kind === 3 ? 4000 + (n % 10) : 0 });
  return { destination, nextHop: h };
}

/** FNV-1a of a route key (a latin1 string: one char per byte). */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The same hash over the bytes `buf[start, end)` of a key as it is on the wire. */
export function keyHashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] ?? 0), 16777619);
  return h >>> 0;
}

/** Order-independent digest of a set of route keys (count and a 32-bit sum of key hashes). */
export function viewDigest(keys: Iterable<string>): { count: number; hash: number } {
  let count = 0;
  let hash = 0;
  for (const k of keys) {
    hash = (hash + keyHash(k)) >>> 0;
    count++;
  }
  return { count, hash };
}

export class GoodPeer {
  readonly client: MetalBondClient;
  /** Announced: route key -> route. */
  readonly announced = new Map<string, Route>();
  /** Sessions lost (any transition to RETRY). */
  drops = 0;
  readonly dropReasons: string[] = [];
  /** Handler calls. */
  adds = 0;
  removes = 0;
  private nextRoute = 0;

  constructor(
    readonly index: number,
    readonly vni: Vni,
    servers: readonly string[],
    options: { keepalive?: number; logger?: Logger } = {},
  ) {
    this.client = MetalBondClient.connect(
      servers,
      {
        addRoute: () => {
          this.adds++;
        },
        removeRoute: () => {
          this.removes++;
        },
      },
      {
        keepalive: options.keepalive ?? 5,
        subscribe: [vni],
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      },
    );
    this.client.on('server', (e: ServerStateEvent) => {
      if (e.state === SessionState.RETRY && e.previous === SessionState.ESTABLISHED) {
        this.drops++;
        if (this.dropReasons.length < 5) this.dropReasons.push(e.error?.message ?? 'unknown');
      }
    });
  }

  /** Announces its next route. */
  async announceNext(): Promise<string> {
    const r = peerRoute(this.index, this.nextRoute++);
    const key = routeKey(this.vni, r);
    await this.client.announce(this.vni, r.destination, r.nextHop);
    this.announced.set(key, r);
    return key;
  }

  /** Withdraws one of its routes (the oldest). */
  async withdrawOne(): Promise<string | undefined> {
    const first = this.announced.entries().next();
    if (first.done === true) return undefined;
    const [key, r] = first.value;
    this.announced.delete(key);
    await this.client.withdraw(this.vni, r.destination, r.nextHop);
    return key;
  }

  /** What the handler holds for its VNI, as route keys. */
  viewKeys(): Set<string> {
    return new Set(this.client.receivedRoutes(this.vni).map((x) => routeKey(x.vni, x.route)));
  }

  async stop(): Promise<void> {
    await this.client.shutdown();
  }
}

export interface ViewMismatch {
  readonly peer: number;
  readonly vni: Vni;
  readonly expected: number;
  readonly actual: number;
  readonly missing: string[];
  readonly extra: string[];
}

/** A group of good peers on the same servers, `perVni` of them in each VNI. */
export class PeerGroup {
  readonly peers: GoodPeer[] = [];

  constructor(
    servers: readonly string[],
    vnis: readonly Vni[],
    perVni: number,
    options: { keepalive?: number; firstIndex?: number } = {},
  ) {
    let i = options.firstIndex ?? 0;
    for (const vni of vnis) {
      for (let k = 0; k < perVni; k++) this.peers.push(new GoodPeer(i++, vni, servers, options));
    }
  }

  /** Waits until every peer is established, then has each announce `routes` routes. */
  async start(routes: number, timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.peers.map((p) => p.client.waitAllEstablished(timeoutMs)));
    for (const p of this.peers) for (let n = 0; n < routes; n++) await p.announceNext();
  }

  /** One churn step: a random peer withdraws a route and announces a new one. */
  async churn(random: () => number): Promise<void> {
    const p = this.peers[Math.floor(random() * this.peers.length)];
    if (!p?.client.isEstablished) return;
    await p.withdrawOne();
    await p.announceNext();
  }

  expected(p: GoodPeer): Set<string> {
    const out = new Set<string>();
    for (const q of this.peers)
      if (q !== p && q.vni === p.vni) for (const k of q.announced.keys()) out.add(k);
    return out;
  }

  mismatches(): ViewMismatch[] {
    const out: ViewMismatch[] = [];
    for (const p of this.peers) {
      const want = this.expected(p);
      const have = p.viewKeys();
      const missing = [...want].filter((k) => !have.has(k));
      const extra = [...have].filter((k) => !want.has(k));
      if (missing.length > 0 || extra.length > 0) {
        const show = (keys: string[]): string[] =>
          keys.slice(0, 3).map((k) => {
            const r = [...this.peers.flatMap((q) => [...q.announced.entries()])].find(
              ([x]) => x === k,
            )?.[1];
            return r === undefined
              ? `(unknown route, key ${Buffer.from(k, 'latin1').toString('hex')})`
              : formatRoute(r);
          });
        out.push({
          peer: p.index,
          vni: p.vni,
          expected: want.size,
          actual: have.size,
          missing: show(missing),
          extra: show(extra),
        });
      }
    }
    return out;
  }

  /** Polls until every view is exact; returns the mismatches left at the deadline (or []). */
  async waitConverged(timeoutMs: number, pollMs = 50): Promise<ViewMismatch[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.mismatches();
      if (m.length === 0 || Date.now() >= deadline) return m;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  get drops(): number {
    return this.peers.reduce((n, p) => n + p.drops, 0);
  }

  routes(): number {
    return this.peers.reduce((n, p) => n + p.announced.size, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.stop()));
  }
}
