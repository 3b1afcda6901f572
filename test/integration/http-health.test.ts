import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import { clientStatusSource } from '../../src/http/client-source.js';
import { serverStatusSource } from '../../src/http/server-source.js';
import { MetalBondServer } from '../../src/server/server.js';
import { get, startStatus, until } from '../helpers/http-fixture.js';
import { startServer } from '../helpers/server-fixture.js';

const noop = { addRoute: () => undefined, removeRoute: () => undefined };

describe('HTTP: health and readiness', () => {
  it('server: /healthz always, /readyz while listening, 503 once shut down', async (t) => {
    const server = await MetalBondServer.start('[::1]:0');
    t.after(() => server.shutdown());
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    const c = MetalBondClient.connect([`[::1]:${String(server.address.port)}`], noop);
    t.after(() => c.shutdown());
    await c.waitEstablished(5000);
    assert.deepEqual(
      [(await get(http, '/healthz')).status, (await get(http, '/healthz')).body],
      [200, 'ok\n'],
    );
    const ready = await get(http, '/readyz');
    assert.equal(ready.status, 200);
    assert.match(ready.body, /^ready\n\[\+\] listening: accepting sessions on \[::1\]:\d+\n$/);
    await server.shutdown();
    const r = await get(http, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready\n\[-\] listening: shut down\n$/);
    assert.equal((await get(http, '/healthz')).status, 200);
  });

  it('client: /readyz is 503 until a session is established, 200 then, 503 when it is lost', async (t) => {
    const server = await startServer(t);
    const port = server.address.port;
    const c = MetalBondClient.connect([`[::1]:${String(port)}`], noop, {
      subscribe: [100],
      backoffMinMs: 50,
      backoffMaxMs: 100,
    });
    t.after(() => c.shutdown());
    const source = clientStatusSource(c);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    await c.waitEstablished(5000);
    const ok = await get(http, '/readyz');
    assert.equal(ok.status, 200, ok.body);
    await server.shutdown();
    await until(
      async () => (await get(http, '/readyz')).status === 503,
      'not ready after the server left',
    );
    assert.match((await get(http, '/readyz')).body, /no server session established/);
    // The server comes back on the same port: ready again once the subscription is synced (its
    // sync delay is 0 here; by default SYNCED waits 15 s after a server starts).
    const again = await MetalBondServer.start(`[::1]:${String(port)}`, { syncDelayMs: 0 });
    t.after(() => again.shutdown());
    await until(async () => (await get(http, '/readyz')).status === 200, 'ready again', 10_000);
  });

  it('client that never reaches a server: not ready, and says why', async (t) => {
    const c = MetalBondClient.connect(['[::1]:1'], noop, { backoffMinMs: 50, backoffMaxMs: 100 });
    t.after(() => c.shutdown());
    const source = clientStatusSource(c);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    const r = await get(http, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /\[-\] established: no server session established/);
  });

  it('kernel installer health is part of readiness when given', async (t) => {
    const server = await startServer(t);
    const c = MetalBondClient.connect([`[::1]:${String(server.address.port)}`], noop);
    t.after(() => c.shutdown());
    let healthy = false;
    const source = clientStatusSource(c, {
      kernel: {
        healthy: () => ({ ok: healthy, detail: healthy ? 'ok' : 'tunnel device missing' }),
      },
    });
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    await c.waitEstablished(5000);
    const r = await get(http, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /\[-\] kernel: tunnel device missing/);
    healthy = true;
    assert.equal((await get(http, '/readyz')).status, 200);
  });
});

describe('HTTP: listeners and Host check', () => {
  it('--http refuses Host names other than IP literals, localhost and allowed names', async (t) => {
    const server = await startServer(t);
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source, { allowedHosts: ['tsbond.example.org'] });
    const port = String(http.address.port);
    for (const host of [
      `[::1]:${port}`,
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      'tsbond.example.org',
    ])
      assert.equal((await get(http, '/routes.json', host)).status, 200, host);
    for (const host of ['evil.example', `evil.example:${port}`, `localhost.evil.example:${port}`]) {
      for (const path of ['/', '/routes.json', '/api/routes', '/metrics']) {
        const r = await get(http, path, host);
        assert.equal(r.status, 403, `${host} ${path}`);
        assert.match(r.body, /is not allowed/);
      }
    }
  });

  it('--metrics serves only /metrics, /healthz and /readyz', async (t) => {
    const server = await startServer(t);
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const m = await startStatus(t, source, { mode: 'metrics' });
    for (const path of ['/metrics', '/healthz', '/readyz'])
      assert.equal((await get(m, path)).status, 200, path);
    for (const path of ['/', '/routes.json', '/routes.yaml', '/api/routes', '/api/events'])
      assert.equal((await get(m, path)).status, 404, path);
    // Scraped by pod address or service name: no Host check on this listener (no routes here).
    assert.equal((await get(m, '/metrics', 'tsbond.monitoring.svc:9712')).status, 200);
  });

  it('refuses other methods and a port already in use', async (t) => {
    const server = await startServer(t);
    const source = serverStatusSource(server);
    t.after(() => {
      source.close();
    });
    const http = await startStatus(t, source);
    const r = await fetch(`${http.url}routes.json`, { method: 'POST' });
    assert.equal(r.status, 405);
    await assert.rejects(startStatus(t, source, { listen: `[::1]:${String(http.address.port)}` }), {
      code: 'IO',
      message: /address already in use/,
    });
  });
});
