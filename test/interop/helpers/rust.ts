/**
 * rustbond 0.1.3 as a test peer, through our driver test/interop/rustbond-peer (JSON lines on
 * stdout, commands on stdin; see src/main.rs there).
 */

import type { TestContext } from 'node:test';

import type { Peers } from './peers.js';
import { PeerProcess } from './proc.js';
import {
  hopTypeFromName,
  routeFromFields,
  routeLine,
  rustAnnouncement,
  type VniRoute,
} from './routes.js';

let rustCounter = 0;

export interface RustEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

interface RouteEventFields {
  vni: number;
  destination: string;
  nextHop: string;
  targetVni: number;
  type: string;
  natFrom: number;
  natTo: number;
}

abstract class RustPeer {
  private parsed: RustEvent[] = [];
  private parsedLines = 0;

  constructor(readonly proc: PeerProcess) {}

  /** All JSON events printed so far. */
  events(): RustEvent[] {
    const out = this.proc.lines;
    for (; this.parsedLines < out.length; this.parsedLines++) {
      const l = out[this.parsedLines];
      if (l?.stream !== 'stdout' || !l.text.startsWith('{')) continue;
      this.parsed.push(JSON.parse(l.text) as RustEvent);
    }
    return this.parsed;
  }

  /** Waits for the `count`-th event satisfying `pred`. */
  async waitEvent(
    what: string,
    pred: (e: RustEvent) => boolean,
    timeoutMs: number,
    count = 1,
  ): Promise<RustEvent> {
    let found: RustEvent | undefined;
    await this.proc.until(
      () => {
        found = this.events().filter(pred)[count - 1];
        return found !== undefined;
      },
      timeoutMs,
      what,
    );
    if (found === undefined) throw new Error('unreachable');
    return found;
  }

  /** WARN and ERROR log lines (stderr; RUST_LOG defaults to warn). */
  warnings(): string[] {
    return this.proc.matching(/\b(WARN|ERROR)\b/, 'stderr').map((l) => l.text);
  }

  kill(): Promise<void> {
    return this.proc.kill();
  }
}

export interface RustServerOptions {
  readonly keepalive?: number;
  readonly port?: number;
  readonly name?: string;
}

export class RustServer extends RustPeer {
  constructor(
    proc: PeerProcess,
    readonly address: string,
  ) {
    super(proc);
  }

  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(':') + 1));
  }

  static async start(t: TestContext, peers: Peers, o: RustServerOptions = {}): Promise<RustServer> {
    const args = ['server', '--listen', `[::1]:${String(o.port ?? 0)}`];
    if (o.keepalive !== undefined) args.push('--keepalive', String(o.keepalive));
    const proc = new PeerProcess(t, peers.rustbondPeer, args, {
      name: o.name ?? `rust-server#${String(++rustCounter)}`,
    });
    const s = new RustServer(proc, '');
    const ev = await s.waitEvent('listening', (e) => e.event === 'listening', 10_000);
    return new RustServer(proc, String(ev.addr));
  }

  /** Latest {peers, routes} reported (printed on change, polled every 200 ms by the driver). */
  stats(): { peers: number; routes: number } | undefined {
    const s = this.events()
      .filter((e) => e.event === 'stats')
      .at(-1);
    return s === undefined ? undefined : { peers: Number(s.peers), routes: Number(s.routes) };
  }

  async waitStats(
    what: string,
    pred: (s: { peers: number; routes: number }) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    await this.proc.until(
      () => {
        const s = this.stats();
        return s !== undefined && pred(s);
      },
      timeoutMs,
      `stats: ${what}`,
    );
  }
}

export interface RustClientOptions {
  readonly servers: readonly string[];
  readonly subscribe?: readonly number[];
  readonly announce?: readonly VniRoute[];
  readonly wait?: 'all' | 'any' | 'none';
  readonly name?: string;
}

export class RustClient extends RustPeer {
  static async start(t: TestContext, peers: Peers, o: RustClientOptions): Promise<RustClient> {
    const args = ['client'];
    for (const s of o.servers) args.push('--server', s);
    for (const v of o.subscribe ?? []) args.push('--subscribe', String(v));
    for (const r of o.announce ?? []) args.push('--announce', rustAnnouncement(r));
    args.push('--wait', o.wait ?? 'all', '--connect-timeout', '15');
    const proc = new PeerProcess(t, peers.rustbondPeer, args, {
      name: o.name ?? `rust-client#${String(++rustCounter)}`,
    });
    const c = new RustClient(proc);
    if ((o.wait ?? 'all') !== 'none') {
      await c.waitEvent('established', (e) => e.event === 'established', 20_000);
    }
    // The startup flags are answered like stdin commands: wait for every answer.
    const startup = (o.subscribe?.length ?? 0) + (o.announce?.length ?? 0);
    if (startup > 0) {
      await c.waitEvent(
        'startup commands answered',
        (e) => (e.event === 'ok' || e.event === 'error') && e.cmd !== 'connect',
        10_000,
        startup,
      );
      const errors = c.events().filter((e) => e.event === 'error');
      if (errors.length > 0)
        throw new Error(`rust client startup failed: ${JSON.stringify(errors)}`);
    }
    return c;
  }

  /** Route add/remove events, as `add LINE` / `remove LINE`. */
  calls(): string[] {
    return this.events()
      .filter((e) => e.event === 'add' || e.event === 'remove')
      .map((e) => `${e.event} ${routeLine(...toVniRoute(e))}`);
  }

  /** Routes held now (adds minus removes), sorted canonical lines. */
  held(): string[] {
    const n = new Map<string, number>();
    for (const c of this.calls()) {
      const sp = c.indexOf(' ');
      const k = c.slice(sp + 1);
      n.set(k, (n.get(k) ?? 0) + (c.startsWith('add ') ? 1 : -1));
    }
    return [...n]
      .filter(([, v]) => v > 0)
      .map(([k]) => k)
      .sort();
  }

  /** Waits until the held routes equal `expected` (sorted canonical lines). */
  async waitHeld(expected: readonly string[], timeoutMs: number, what = 'routes'): Promise<void> {
    const want = JSON.stringify([...expected].sort());
    try {
      await this.proc.until(() => JSON.stringify(this.held()) === want, timeoutMs, what);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}\nwanted ${want}\nheld   ${JSON.stringify(this.held())}`,
      );
    }
  }

  /** Runs one stdin command and waits for its ok/error answer; throws on error. */
  async command(verb: string, arg: string, timeoutMs = 10_000): Promise<void> {
    const isAnswer = (e: RustEvent): boolean =>
      (e.event === 'ok' || e.event === 'error') && e.cmd === verb && e.arg === arg;
    const before = this.events().filter(isAnswer).length;
    this.proc.writeLine(`${verb} ${arg}`);
    const ev = await this.waitEvent(`answer to '${verb} ${arg}'`, isAnswer, timeoutMs, before + 1);
    if (ev.event === 'error') throw new Error(`rust client: ${verb} ${arg}: ${String(ev.error)}`);
  }

  announce(r: VniRoute): Promise<void> {
    return this.command('announce', rustAnnouncement(r));
  }

  withdraw(r: VniRoute): Promise<void> {
    return this.command('withdraw', rustAnnouncement(r));
  }

  subscribe(vni: number): Promise<void> {
    return this.command('subscribe', String(vni));
  }

  /** Server state changes reported so far (`ESTABLISHED`, `RETRY`, ...), for server index `i`. */
  serverStates(i = 0): string[] {
    return this.events()
      .filter((e) => e.event === 'serverState' && e.server === i)
      .map((e) => String(e.state));
  }

  /** Number of times server `i` became ESTABLISHED. */
  establishedCount(i = 0): number {
    return this.serverStates(i).filter((s) => s === 'ESTABLISHED').length;
  }
}

function toVniRoute(e: RustEvent): [number, VniRoute['route']] {
  const f = e as unknown as RouteEventFields;
  const r = routeFromFields(
    f.vni,
    f.destination,
    f.nextHop,
    hopTypeFromName(f.type),
    f.targetVni,
    f.natFrom,
    f.natTo,
  );
  return [r.vni, r.route];
}
