/**
 * Go MetalBond v0.5.0 CLI as a test peer (see test/interop/go-peer-notes.md): a server, or a client
 * whose received routes are read from its `--http` /routes.json. All logging is logrus text on
 * stderr; nothing goes to stdout.
 */

import type { TestContext } from 'node:test';

import type { Peers } from './peers.js';
import { PeerProcess } from './proc.js';
import { goAnnouncement, hopTypeFromNumber, routeFromFields, type VniRoute } from './routes.js';
import { freePort, PollAbort, pollUntil } from './wait.js';

let goCounter = 0;

interface RoutesJson {
  vnet?: Record<string, Record<string, GoNextHop[]>>;
}

interface GoNextHop {
  TargetAddress: string;
  TargetVNI: number;
  Type: number;
  NATPortRangeFrom: number;
  NATPortRangeTo: number;
}

/** GET http://[::1]:PORT/routes.json of a Go peer, as canonical routes. */
export async function fetchGoRoutes(httpPort: number, timeoutMs = 5000): Promise<VniRoute[]> {
  const res = await fetch(`http://[::1]:${String(httpPort)}/routes.json`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`routes.json: HTTP ${String(res.status)}`);
  const body = (await res.json()) as RoutesJson;
  const out: VniRoute[] = [];
  for (const [vniText, dests] of Object.entries(body.vnet ?? {})) {
    for (const [destKey, hops] of Object.entries(dests)) {
      const dest = JSON.parse(destKey) as { IPVersion: number; Prefix: string };
      for (const h of hops) {
        out.push(
          routeFromFields(
            Number(vniText),
            dest.Prefix,
            h.TargetAddress,
            hopTypeFromNumber(h.Type),
            h.TargetVNI,
            h.NATPortRangeFrom,
            h.NATPortRangeTo,
          ),
        );
      }
    }
  }
  return out;
}

/** Log lines of a Go peer about a protocol violation or a keepalive timeout. */
export const GO_PROTOCOL_ERROR_RE =
  /Connection timed out|too many messages in inbound queue|Incompatible Client version|Cannot deserialize|Unknown Packet|panic:|Keepalive Interval too low|wrong state/;

/** Log lines of a Go client that mean its session to a server was torn down, for any reason. */
export const GO_RESET_RE = /Resetting connection/;

abstract class GoPeer {
  constructor(
    readonly proc: PeerProcess,
    readonly httpPort: number,
  ) {}

  /** Received routes, from /routes.json. */
  routes(): Promise<VniRoute[]> {
    return fetchGoRoutes(this.httpPort);
  }

  /** "Received Route" log lines so far (cheaper to poll than /routes.json for big tables). */
  receivedRouteLines(): number {
    let n = 0;
    for (const l of this.proc.lines) if (l.text.includes('msg="Received Route')) n++;
    return n;
  }

  /** Lines that show a client session reset (empty when everything stayed up). */
  resets(): string[] {
    return this.proc.matching(GO_RESET_RE).map((l) => l.text);
  }

  /** Lines about protocol violations or keepalive timeouts (either role). */
  protocolErrors(): string[] {
    return this.proc.matching(GO_PROTOCOL_ERROR_RE).map((l) => l.text);
  }

  /** Polls /routes.json until `pred` holds; returns the routes. */
  async waitRoutes(
    what: string,
    pred: (routes: VniRoute[]) => boolean,
    timeoutMs: number,
    intervalMs = 100,
  ): Promise<VniRoute[]> {
    let last: VniRoute[] = [];
    return pollUntil(
      `${this.proc.name} routes.json: ${what}`,
      async () => {
        if (this.proc.exited) throw new PollAbort(`${this.proc.name} exited\n${this.proc.tail()}`);
        last = await this.routes();
        return pred(last) ? last : undefined;
      },
      timeoutMs,
      intervalMs,
      () => `last routes.json had ${String(last.length)} routes\n${this.proc.tail(15)}`,
    );
  }

  kill(): Promise<void> {
    return this.proc.kill();
  }
}

export interface GoServerOptions {
  readonly keepalive?: number;
  /** Listen port (default: a free one). */
  readonly port?: number;
  readonly name?: string;
}

export class GoServer extends GoPeer {
  constructor(
    proc: PeerProcess,
    httpPort: number,
    readonly port: number,
  ) {
    super(proc, httpPort);
  }

  get address(): string {
    return `[::1]:${String(this.port)}`;
  }

  static async start(t: TestContext, peers: Peers, o: GoServerOptions = {}): Promise<GoServer> {
    const port = o.port ?? (await freePort());
    const httpPort = await freePort();
    const args = [
      'server',
      '--listen',
      `[::1]:${String(port)}`,
      '--http',
      `[::1]:${String(httpPort)}`,
    ];
    if (o.keepalive !== undefined) args.push('--keepalive', String(o.keepalive));
    const proc = new PeerProcess(t, peers.metalbond, args, {
      name: o.name ?? `go-server#${String(++goCounter)}`,
      stderrToFile: true,
    });
    await proc.waitForLine(/Listening on \[::1\]:\d+/, 10_000);
    const s = new GoServer(proc, httpPort, port);
    await s.waitRoutes('HTTP up', () => true, 5000, 50);
    return s;
  }

  /** Number of "Connection established" lines (one per accepted session). */
  establishedCount(): number {
    return this.proc.matching(/msg="Connection established"/).length;
  }
}

export interface GoClientOptions {
  readonly servers: readonly string[];
  readonly subscribe?: readonly number[];
  readonly announce?: readonly VniRoute[];
  readonly keepalive?: number;
  readonly name?: string;
  /** Wait until every server session is established (default true). */
  readonly waitEstablished?: boolean;
}

export class GoClient extends GoPeer {
  constructor(
    proc: PeerProcess,
    httpPort: number,
    readonly servers: readonly string[],
  ) {
    super(proc, httpPort);
  }

  static async start(t: TestContext, peers: Peers, o: GoClientOptions): Promise<GoClient> {
    const httpPort = await freePort();
    const args = ['client', '--http', `[::1]:${String(httpPort)}`];
    for (const s of o.servers) args.push('--server', s);
    for (const v of o.subscribe ?? []) args.push('--subscribe', String(v));
    // One --announce per route, with '=' so a value can never be taken for a flag.
    for (const r of o.announce ?? []) args.push(`--announce=${goAnnouncement(r)}`);
    if (o.keepalive !== undefined) args.push('--keepalive', String(o.keepalive));
    const proc = new PeerProcess(t, peers.metalbond, args, {
      name: o.name ?? `go-client#${String(++goCounter)}`,
      stderrToFile: true,
    });
    const c = new GoClient(proc, httpPort, o.servers);
    if (o.waitEstablished ?? true) {
      for (const s of o.servers) await c.waitEstablished(s, 1, 12_000);
      await c.waitRoutes('HTTP up', () => true, 5000, 50);
    }
    return c;
  }

  /** Times the session to `server` became established (log lines). */
  establishedCount(server: string): number {
    return this.proc.matching(establishedRe(server)).length;
  }

  /** Waits for the `count`-th "Connection established" with `server`. */
  async waitEstablished(server: string, count: number, timeoutMs: number): Promise<void> {
    await this.proc.waitForLine(establishedRe(server), timeoutMs, { count });
  }
}

function establishedRe(server: string): RegExp {
  const esc = server.replace(/[[\]\\.]/g, (c) => `\\${c}`);
  return new RegExp(`msg="Connection established".*peer="${esc}"`);
}

/** Matches a Go client CLI log line about a server's keepalive timeout "KEEPALIVE timeout: 5s". */
export function goKeepaliveTimeouts(p: GoPeer): string[] {
  return p.proc
    .matching(/KEEPALIVE timeout: /)
    .map((l) => /KEEPALIVE timeout: (\S+?)"/.exec(l.text)?.[1] ?? '?');
}
