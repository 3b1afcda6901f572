/**
 * tsbond's /routes.json and /routes.yaml side by side with a real Go MetalBond v0.5.0 holding the
 * same routes: a Go client and a tsbond client announce to a Go server and a tsbond server at
 * once; a Go client of the Go server and a tsbond client of the tsbond server receive them. The
 * documents must be identical except `date` and the version string (and, in YAML, the order of
 * destinations inside a VNI, which yaml.v2 leaves to Go's random map order).
 */

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';

import { clientStatusSource } from '../../src/http/client-source.js';
import { serverStatusSource } from '../../src/http/server-source.js';
import { StatusServer } from '../../src/http/status-server.js';
import type { Source } from '../../src/http/sources.js';
import { GoClient, GoServer } from './helpers/go.js';
import { requirePeers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { lines, makeRoute, type VniRoute } from './helpers/routes.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';

before(() => warmPeers('go'), { timeout: PEER_BUILD_TIMEOUT_MS });

/** Announced by the Go client (the Go CLI cannot set a target VNI). */
const FROM_GO: VniRoute[] = [
  makeRoute({ vni: 100, prefix: '10.0.1.0/24', hop: '2001:db8::1' }),
  makeRoute({ vni: 100, prefix: '9.0.0.0/8', hop: '2001:db8::10' }),
  makeRoute({ vni: 23, prefix: '10.0.23.42/32', hop: '2001:db8::3', type: 'LOADBALANCER_TARGET' }),
  makeRoute({
    vni: 200,
    prefix: '2001:db8:1::/48',
    hop: '2001:db8::2',
    type: 'NAT',
    natFrom: 1024,
    natTo: 2048,
  }),
];
/** Announced by the tsbond client: ECMP with the Go client's, target VNIs, host bits. */
const FROM_TS: VniRoute[] = [
  makeRoute({ vni: 100, prefix: '10.0.1.0/24', hop: '2001:db8::9' }),
  makeRoute({ vni: 100, prefix: '10.0.1.0/24', hop: '2001:db8::1', targetVni: 500 }),
  makeRoute({ vni: 100, prefix: '10.0.1.7/24', hop: '2001:db8::4' }),
  makeRoute({ vni: 100, prefix: '::/0', hop: 'fd00::1' }),
  makeRoute({
    vni: 3000,
    prefix: '0.0.0.0/0',
    hop: '2001:db8::ff',
    type: 'NAT',
    natFrom: 0,
    natTo: 65535,
  }),
];
const ALL = [...FROM_GO, ...FROM_TS];
const VNIS = [...new Set(ALL.map((r) => r.vni))];

const normJson = (s: string): string =>
  s
    .replace(/^ {2}"date": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",$/m, '  "date": "-",')
    .replace(/^ {2}"metalbondVersion": ".*"$/m, '  "metalbondVersion": "-"');

/** YAML with the date and version blanked and each VNI's destination blocks in key order. */
function normYaml(s: string): string {
  const out: string[] = [];
  let blocks: string[][] = [];
  const flush = (): void => {
    blocks.sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
    for (const b of blocks) out.push(...b);
    blocks = [];
  };
  for (const line of s.split('\n')) {
    if (line.startsWith("    '")) blocks.push([line]);
    else if (line.startsWith('    ') && blocks.length > 0) blocks[blocks.length - 1]?.push(line);
    else {
      flush();
      out.push(
        line
          .replace(/^date: ".*"$/, 'date: -')
          .replace(/^metalbondversion: .*$/, 'metalbondversion: -'),
      );
    }
  }
  flush();
  return out.join('\n');
}

async function text(url: string): Promise<{ type: string | null; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, url);
  return { type: r.headers.get('content-type'), body: await r.text() };
}

async function statusServer(t: TestContext, source: Source): Promise<StatusServer> {
  t.after(() => {
    source.close();
  });
  const s = await StatusServer.start(source, { listen: '[::1]:0' });
  t.after(() => s.close());
  return s;
}

describe(
  'interop: /routes.json and /routes.yaml against Go MetalBond',
  { timeout: 120_000 },
  () => {
    it('a tsbond server and client serve what a Go server and client serve for the same routes', async (t) => {
      const peers = await requirePeers(t, 'go');
      if (!peers) return;
      const goServer = await GoServer.start(t, peers, { name: 'go-server' });
      const tsServer = await startTsServer(t);
      await GoClient.start(t, peers, {
        name: 'go-announcer',
        servers: [goServer.address, tsServer.address],
        announce: FROM_GO,
      });
      const tsAnnouncer = TsClient.connect(t, [goServer.address, tsServer.address], {
        announce: FROM_TS,
      });
      await tsAnnouncer.waitEstablished(10_000);
      const goReceiver = await GoClient.start(t, peers, {
        name: 'go-receiver',
        servers: [goServer.address],
        subscribe: VNIS,
      });
      const tsReceiver = TsClient.connect(t, [tsServer.address], { subscribe: VNIS });
      await tsReceiver.waitHeld(lines(ALL), 10_000, 'every route at the tsbond receiver');
      await goReceiver.waitRoutes('every route', (r) => r.length === ALL.length, 10_000);
      await goServer.waitRoutes('every route', (r) => r.length === ALL.length, 10_000);

      const tsServerHttp = await statusServer(t, serverStatusSource(tsServer.server));
      const tsClientHttp = await statusServer(t, clientStatusSource(tsReceiver.client));
      const go = (port: number, path: string) => text(`http://[::1]:${String(port)}${path}`);

      for (const [what, goPort, ours] of [
        ['server', goServer.httpPort, tsServerHttp],
        ['client', goReceiver.httpPort, tsClientHttp],
      ] as const) {
        const gj = await go(goPort, '/routes.json');
        const tj = await text(`${ours.url}routes.json`);
        assert.equal(tj.type, gj.type);
        assert.equal(normJson(tj.body), normJson(gj.body), `${what} /routes.json`);
        assert.match(tj.body, /"metalbondVersion": "tsbond \d+\.\d+\.\d+"\n\}$/);
        const gy = await go(goPort, '/routes.yaml');
        const ty = await text(`${ours.url}routes.yaml`);
        assert.equal(ty.type, gy.type);
        assert.equal(normYaml(ty.body), normYaml(gy.body), `${what} /routes.yaml`);
        t.diagnostic(
          `${what}: ${String(gj.body.length)} bytes of JSON identical but date and version`,
        );
      }
    });
  },
);
