/** HTTP test helpers: fake status sources, a status server per test, requests with any Host. */

import { request } from 'node:http';
import type { TestContext } from 'node:test';

import {
  loadBalancerNextHop,
  natNextHop,
  route as makeRoute,
  type Route,
} from '../../src/model/route.js';
import type { RouteRow, Source } from '../../src/http/sources.js';
import { StatusServer, type StatusServerOptions } from '../../src/http/status-server.js';
import { formatHostPort } from '../../src/net-address.js';

/** The routes of test/fixtures/go-routes.json, which Go MetalBond v0.5.0 produced for them. */
export const GO_FIXTURE_ROUTES = [
  { vni: 100, route: makeRoute('10.0.1.0/24', '2001:db8::1') },
  { vni: 100, route: makeRoute('10.0.1.0/24', '2001:db8::3') },
  { vni: 100, route: makeRoute('10.0.1.0/24', '2001:db8::9') },
  { vni: 100, route: makeRoute('10.0.0.0/8', '2001:db8::3') },
  { vni: 100, route: makeRoute('9.0.0.0/8', '2001:db8::9') },
  { vni: 100, route: makeRoute('9.0.0.0/8', '2001:db8::10') },
  { vni: 100, route: makeRoute('2001:db8:1::/48', natNextHop('2001:db8::2', 1024, 2048)) },
  { vni: 23, route: makeRoute('10.0.23.42/32', loadBalancerNextHop('2001:db8::3')) },
  { vni: 200, route: makeRoute('10.0.2.0/24', '2001:db8::2') },
];

/** A source over a fixed or generated table (server role unless said otherwise). */
export function fakeSource(
  table: ReadonlyMap<number, () => Iterable<RouteRow>>,
  counts?: ReadonlyMap<number, number>,
  extra: Partial<Source> = {},
): Source {
  const vnis = [...table.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const n of counts?.values() ?? []) total += n;
  return {
    role: 'server',
    startedAt: new Date(),
    describe: () => 'fake',
    sessions: () => [],
    vnis: () => vnis,
    routeCount: () => total,
    ...(counts !== undefined && { vniRouteCount: (v: number) => counts.get(v) ?? 0 }),
    routes: (vni) => (table.get(vni) ?? (() => []))(),
    changes: () => ({ total: 0 }),
    ready: () => ({ ready: true, checks: [] }),
    close: () => undefined,
    sessionCounts: () => ({}),
    sessionResets: () => ({}),
    vniCount: () => vnis.length,
    subscriptionCount: () => 0,
    bytes: () => ({ received: 0, sent: 0 }),
    messages: () => ({ received: {}, sent: {} }),
    routeUpdates: () => ({ received: {}, sent: {} }),
    routesByFamilyType: () => [],
    invalidUpdates: () => 0,
    refusals: () => ({}),
    ...extra,
  };
}

/** A source over a list of (vni, route) rows. */
export function listSource(rows: readonly { vni: number; route: Route }[]): Source {
  const byVni = new Map<number, RouteRow[]>();
  for (const r of rows) {
    const l = byVni.get(r.vni) ?? [];
    l.push({ vni: r.vni, route: r.route, owners: ['[::1]:1'] });
    byVni.set(r.vni, l);
  }
  const counts = new Map([...byVni].map(([v, l]) => [v, l.length]));
  return fakeSource(new Map([...byVni].map(([v, l]) => [v, () => l])), counts);
}

/**
 * `n` generated routes in one VNI, made as they are walked (nothing kept): 10.a.b.c/32 via one
 * of 256 next hops.
 */
export function generatedRows(vni: number, n: number): () => Iterable<RouteRow> {
  const hops = Array.from({ length: 256 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
  return function* () {
    for (let i = 0; i < n; i++) {
      const dest = `10.${String((i >> 16) & 255)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`;
      yield { vni, route: makeRoute(dest, hops[i & 255] ?? ''), owners: ['[::1]:4711'] };
    }
  };
}

export async function startStatus(
  t: TestContext,
  source: Source,
  options: Partial<StatusServerOptions> = {},
): Promise<StatusServer> {
  const s = await StatusServer.start(source, { listen: '[::1]:0', ...options });
  t.after(() => s.close());
  return s;
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** GET with an explicit Host header (fetch cannot set one). */
export function get(server: StatusServer, path: string, host?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: server.address.host,
        port: server.address.port,
        path,
        headers: { host: host ?? formatHostPort(server.address) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function getJson<T>(server: StatusServer, path: string): Promise<T> {
  const r = await get(server, path);
  if (r.status !== 200) throw new Error(`${path}: HTTP ${String(r.status)} ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** Polls `cond` every 10 ms until it holds (no fixed sleeps); fails after `timeoutMs`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One parsed sample line of the Prometheus text format. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the text exposition format: TYPE per metric family and the samples. */
export function parsePrometheus(text: string): {
  types: Map<string, string>;
  samples: PromSample[];
} {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      types.set(type[1] ?? '', type[2] ?? '');
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] ?? ''] = l[2] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return { types, samples };
}
