import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { describe, it, type TestContext } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import { clientStatusSource } from '../../src/http/client-source.js';
import { serverStatusSource } from '../../src/http/server-source.js';
import type { RouteQueryResult } from '../../src/http/route-query.js';
import type { StatusServer } from '../../src/http/status-server.js';
import { nextHop, parseDestination, type Route } from '../../src/model/route.js';
import type { MetalBondServer } from '../../src/server/server.js';
import {
  GO_FIXTURE_ROUTES,
  get,
  getJson,
  parsePrometheus,
  startStatus,
  until,
} from '../helpers/http-fixture.js';
import { startServer } from '../helpers/server-fixture.js';

const addr = (s: MetalBondServer): string => `[::1]:${String(s.address.port)}`;
const noop = { addRoute: () => undefined, removeRoute: () => undefined };
const GOLDEN = readFileSync(new URL('../fixtures/go-routes.json', import.meta.url), 'utf8');
const undate = (s: string): string =>
  s.replace(/"date": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"/, '"date": "2024-01-02 03:04:05"');

function connect(
  t: TestContext,
  server: MetalBondServer,
  o: { subscribe?: number[]; announce?: { vni: number; route: Route }[] } = {},
): MetalBondClient {
  const c = MetalBondClient.connect([addr(server)], noop, {
    backoffMinMs: 50,
    backoffMaxMs: 200,
    ...o,
  });
  t.after(() => c.shutdown());
  return c;
}

/** A tsbond server holding the fixture's routes (announced by two clients), with --http. */
async function fixtureServer(t: TestContext): Promise<{
  server: MetalBondServer;
  http: StatusServer;
}> {
  const server = await startServer(t);
  const half = Math.ceil(GO_FIXTURE_ROUTES.length / 2);
  connect(t, server, { announce: GO_FIXTURE_ROUTES.slice(0, half) });
  connect(t, server, { announce: GO_FIXTURE_ROUTES.slice(half) });
  await until(() => server.routeCount === GO_FIXTURE_ROUTES.length, 'routes in the table');
  const source = serverStatusSource(server);
  t.after(() => {
    source.close();
  });
  const http = await startStatus(t, source, { version: 'development' });
  return { server, http };
}

describe('HTTP: Go-shaped route exports on a live server and client', () => {
  it('server /routes.json: every route, byte for byte as Go MetalBond serves them', async (t) => {
    const { http } = await fixtureServer(t);
    const r = await get(http, '/routes.json');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(undate(r.body), GOLDEN);
    const y = await get(http, '/routes.yaml');
    assert.equal(y.headers['content-type'], 'text/yaml');
    assert.match(y.body, /^date: "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"\nvnet:\n {2}23:\n/);
    assert.ok(y.body.endsWith('metalbondversion: development\n'));
  });

  it('client /routes.json: the routes it received (not its own)', async (t) => {
    const server = await startServer(t);
    const own = {
      vni: 100,
      route: { destination: parseDestination('10.9.9.0/24'), nextHop: nextHop('2001:db8::99') },
    };
    connect(t, server, { announce: GO_FIXTURE_ROUTES });
    const c = connect(t, server, { subscribe: [23, 100, 200], announce: [own] });
    await until(() => c.receivedRoutes().length === GO_FIXTURE_ROUTES.length, 'received routes');
    const source = clientStatusSource(c);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source, { version: 'development' });
    assert.equal(undate((await get(http, '/routes.json')).body), GOLDEN);
    // The page's view of the client: servers per route.
    const q = await getJson<RouteQueryResult>(http, '/api/routes?vni=23');
    assert.deepEqual(
      q.rows.map((x) => [x.prefix, x.servers]),
      [['10.0.23.42/32', [addr(server)]]],
    );
  });
});

describe('HTTP: page API and live events', () => {
  it('answers filtered, paged route queries and status', async (t) => {
    const { http, server } = await fixtureServer(t);
    const q = await getJson<RouteQueryResult>(
      http,
      '/api/routes?vni=100&prefix=10.0.0.0/8&limit=2',
    );
    assert.equal(q.matched, 4);
    assert.equal(q.rows.length, 2);
    assert.equal(q.rows[0]?.owners?.length, 1);
    const status = await getJson<{ role: string; routes: number; sessions: { total: number } }>(
      http,
      '/api/status',
    );
    assert.equal(status.role, 'server');
    assert.equal(status.routes, server.routeCount);
    assert.equal(status.sessions.total, 2);
    const sessions = await getJson<{ rows: { address: string; state: string; routes: number }[] }>(
      http,
      '/api/sessions',
    );
    assert.deepEqual(
      sessions.rows.map((s) => s.state),
      ['ESTABLISHED', 'ESTABLISHED'],
    );
    assert.equal(
      sessions.rows.reduce((n, s) => n + s.routes, 0),
      GO_FIXTURE_ROUTES.length,
    );
    const bad = await get(http, '/api/routes?vni=x');
    assert.equal(bad.status, 400);
    assert.equal((await get(http, '/nothing')).status, 404);
    const page = await get(http, '/');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy'] as string, /default-src 'none'/);
    assert.doesNotMatch(page.body, /<(script|link|img)[^>]+(src|href)="(https?:)?\/\//);
  });

  it('sends a change summary soon after a route changes, and a sample every second', async (t) => {
    const server = await startServer(t);
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    const a = connect(t, server);
    await a.waitEstablished(5000);
    const events: { event: string; data: unknown; at: number }[] = [];
    const req = request({
      host: '::1',
      port: http.address.port,
      path: '/api/events',
      headers: { host: `[::1]:${String(http.address.port)}` },
    });
    t.after(() => req.destroy());
    await new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (\S+)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev !== undefined && data !== undefined)
              events.push({ event: ev, data: JSON.parse(data), at: Date.now() });
          }
        });
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
    await until(() => events.some((e) => e.event === 'sample'), 'a sample', 3000);
    const announced = Date.now();
    await a.announce(100, parseDestination('10.1.0.0/16'), nextHop('2001:db8::1'));
    await until(() => events.some((e) => e.event === 'changes'), 'a change summary', 3000);
    const c = events.find((e) => e.event === 'changes');
    assert.ok(
      c !== undefined && c.at - announced < 1000,
      `summary after ${String((c?.at ?? 0) - announced)} ms`,
    );
    assert.ok((c.data as { changes: number }).changes >= 1);
    // A burst: at most one summary a second.
    for (let i = 0; i < 50; i++)
      await a.announce(100, parseDestination(`10.2.${String(i)}.0/24`), nextHop('2001:db8::1'));
    await until(() => server.routeCount === 51, 'burst in the table');
    await until(
      () => events.filter((e) => e.event === 'changes').length >= 2,
      'second summary',
      3000,
    );
    const summaries = events.filter((e) => e.event === 'changes').map((e) => e.at);
    for (let i = 1; i < summaries.length; i++)
      assert.ok((summaries[i] ?? 0) - (summaries[i - 1] ?? 0) >= 950, 'summaries 1 s apart');
  });
});

describe('HTTP: metrics', () => {
  it('Prometheus text with the tsbond metrics and the process metrics, one registry per server', async (t) => {
    const { http, server } = await fixtureServer(t);
    // A second HTTP server in the same process: no collision, its own values.
    const other = await startServer(t);
    const otherSource = serverStatusSource(other);
    t.after(() => {
      otherSource.close();
    });
    const otherHttp = await startStatus(t, otherSource, { mode: 'metrics' });
    const r = await get(http, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheus(r.body);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples
        .filter(
          (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        )
        .reduce((n, s) => n + s.value, 0);
    const expectTypes: Record<string, string> = {
      tsbond_build_info: 'gauge',
      tsbond_sessions: 'gauge',
      tsbond_session_resets_total: 'counter',
      tsbond_messages_received_total: 'counter',
      tsbond_messages_sent_total: 'counter',
      tsbond_received_bytes_total: 'counter',
      tsbond_sent_bytes_total: 'counter',
      tsbond_route_updates_received_total: 'counter',
      tsbond_routes: 'gauge',
      tsbond_vnis: 'gauge',
      tsbond_subscriptions: 'gauge',
      tsbond_invalid_updates_total: 'counter',
      tsbond_slow_consumer_disconnects_total: 'counter',
      tsbond_send_queue_bytes: 'gauge',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expectTypes))
      assert.equal(types.get(name), type, name);
    for (const name of types.keys()) {
      assert.match(name, /^(tsbond|process|nodejs)_[a-z0-9_]+$/, name);
      if (types.get(name) === 'counter') assert.match(name, /_total$/, name);
    }
    assert.equal(value('tsbond_build_info', { role: 'server' }), 1);
    assert.equal(value('tsbond_sessions', { role: 'server', state: 'ESTABLISHED' }), 2);
    assert.equal(value('tsbond_sessions', { state: 'RETRY' }), 0);
    assert.equal(value('tsbond_routes'), server.routeCount);
    assert.equal(value('tsbond_vnis'), 3);
    assert.equal(value('tsbond_route_updates_received_total'), GO_FIXTURE_ROUTES.length);
    assert.ok(value('tsbond_received_bytes_total') > 0);
    assert.ok(value('tsbond_messages_received_total') >= GO_FIXTURE_ROUTES.length + 4);
    const o = parsePrometheus((await get(otherHttp, '/metrics')).body);
    assert.equal(o.samples.find((s) => s.name === 'tsbond_routes')?.value, 0);
  });

  it('counters survive sessions that end (resets by reason, bytes of closed sessions)', async (t) => {
    const server = await startServer(t);
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    const c = connect(t, server, { announce: GO_FIXTURE_ROUTES.slice(0, 2) });
    await until(() => server.routeCount === 2, 'routes');
    const before = parsePrometheus((await get(http, '/metrics')).body).samples;
    const bytesBefore = before.find((s) => s.name === 'tsbond_received_bytes_total')?.value ?? 0;
    await c.shutdown();
    await until(() => server.peerCount === 0, 'peer gone');
    const after = parsePrometheus((await get(http, '/metrics')).body).samples;
    const bytesAfter = after.find((s) => s.name === 'tsbond_received_bytes_total')?.value ?? 0;
    assert.ok(
      bytesAfter >= bytesBefore && bytesBefore > 0,
      `${String(bytesBefore)} -> ${String(bytesAfter)}`,
    );
    const resets = after.filter((s) => s.name === 'tsbond_session_resets_total');
    assert.deepEqual(
      resets.map((s) => [s.labels.reason, s.value]),
      [['closed', 1]],
    );
    assert.equal(after.find((s) => s.name === 'tsbond_routes')?.value, 0);
  });
});
