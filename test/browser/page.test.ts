/// <reference lib="dom" />
/**
 * The status page in a real browser: Debian's chromium driven by playwright-core (never
 * `playwright install`). Writes a screenshot to $TSBOND_ARTIFACTS (default test-results/).
 * Without /usr/bin/chromium the test is skipped with the reason, except under CI=true where that is
 * a failure (.ci/run installs it).
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { MetalBondClient } from '../../src/client/client.js';
import { serverStatusSource } from '../../src/http/server-source.js';
import { StatusServer } from '../../src/http/status-server.js';
import { natNextHop, nextHop, parseDestination, route, type Route } from '../../src/model/route.js';
import { MetalBondServer } from '../../src/server/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.TSBOND_ARTIFACTS ?? join(process.cwd(), 'test-results');
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true')
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

const noop = { addRoute: () => undefined, removeRoute: () => undefined };

async function browser(t: TestContext): Promise<BrowserContext> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'tsbond-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(async () => {
    await ctx.close();
    rmSync(userDataDir, { recursive: true, force: true });
  });
  return ctx;
}

async function setup(t: TestContext, announce: { vni: number; route: Route }[] = []) {
  const server = await MetalBondServer.start('[::1]:0');
  t.after(() => server.shutdown());
  const source = serverStatusSource(server);
  t.after(() => {
    source.close();
  });
  const http = await StatusServer.start(source, { listen: '[::1]:0' });
  t.after(() => http.close());
  const addr = `[::1]:${String(server.address.port)}`;
  const clients: MetalBondClient[] = [];
  const connect = (o: { announce?: { vni: number; route: Route }[]; subscribe?: number[] }) => {
    const c = MetalBondClient.connect([addr], noop, o);
    clients.push(c);
    t.after(() => c.shutdown());
    return c;
  };
  const hv = connect({ announce, subscribe: [100] });
  await hv.waitEstablished(10_000);
  const deadline = Date.now() + 60_000;
  while (server.routeCount < announce.length) {
    if (Date.now() > deadline) throw new Error(`only ${String(server.routeCount)} routes`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { server, http, hv, connect };
}

interface Want {
  readonly prefix?: string;
  readonly nexthop?: string;
  readonly vni?: string;
  readonly count?: number;
}

/** Waits until the rows shown are what `want` describes (prefix/next hop text starts, count). */
async function waitRows(page: Page, want: Want, timeout = 5000): Promise<void> {
  await page.waitForFunction(
    (w: Want) => {
      const rows = [...document.querySelectorAll<HTMLElement>('#routes tr.route')];
      if (rows.length === 0 || (w.count !== undefined && rows.length !== w.count)) return false;
      return rows.every(
        (r) =>
          (w.prefix === undefined || (r.dataset.prefix ?? '').startsWith(w.prefix)) &&
          (w.nexthop === undefined || (r.dataset.nexthop ?? '').startsWith(w.nexthop)) &&
          (w.vni === undefined || r.dataset.vni === w.vni),
      );
    },
    want,
    { timeout },
  );
}

/** Routes rows currently shown: "vni prefix nexthop". */
function shown(page: Page): Promise<string[]> {
  return page.$$eval('#routes tr.route', (rows) =>
    rows.map((r) => {
      const d = (r as HTMLElement).dataset;
      return `${d.vni ?? ''} ${d.prefix ?? ''} ${d.nexthop ?? ''}`;
    }),
  );
}

const skip = available ? false : `${CHROMIUM} not installed`;

describe('status page in chromium', { skip }, () => {
  it('shows a route announced after the page loaded within 1 s, without reload; the filter narrows the list', async (t) => {
    const { http, hv, connect } = await setup(t, [
      { vni: 100, route: route('10.0.1.0/24', '2001:db8::a') },
      { vni: 200, route: route('10.0.2.0/24', natNextHop('2001:db8::b', 1024, 2048)) },
    ]);
    const ctx = await browser(t);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    let navigations = 0;
    page.on('framenavigated', () => navigations++);
    await page.goto(http.url);
    await page.waitForSelector('#live.ok');
    await waitRows(page, { count: 2 });
    assert.deepEqual((await shown(page)).sort(), [
      '100 10.0.1.0/24 2001:db8::a',
      '200 10.0.2.0/24 2001:db8::b',
    ]);
    assert.equal(await page.textContent('#sessions tbody td.state-ESTABLISHED'), 'ESTABLISHED');

    // A route announced now appears within a second, without a reload.
    const other = connect({});
    await other.waitEstablished(5000);
    const navigationsBefore = navigations;
    const started = Date.now();
    await other.announce(100, parseDestination('10.7.0.0/16'), nextHop('2001:db8::7'));
    await page.waitForSelector('#routes tr.route[data-prefix="10.7.0.0/16"]', { timeout: 3000 });
    const tookMs = Date.now() - started;
    t.diagnostic(`new route shown after ${String(tookMs)} ms`);
    assert.ok(tookMs < 1000, `shown after ${String(tookMs)} ms`);
    assert.equal(navigations, navigationsBefore, 'no reload');

    // The filter narrows the list; so do the VNI buttons.
    await page.fill('#f-prefix', '10.7.');
    await waitRows(page, { prefix: '10.7.', count: 1 });
    assert.deepEqual(await shown(page), ['100 10.7.0.0/16 2001:db8::7']);
    await page.fill('#f-prefix', '');
    await page.fill('#f-nexthop', '2001:db8::b');
    await waitRows(page, { nexthop: '2001:db8::b', count: 1 });
    assert.deepEqual(await shown(page), ['200 10.0.2.0/24 2001:db8::b']);
    await page.click('#f-clear');
    await waitRows(page, { count: 3 });
    await page.click('#vnis button:has-text("VNI 100")');
    await waitRows(page, { vni: '100', count: 2 });
    assert.equal(await page.inputValue('#f-vni'), '100');

    // A withdrawal disappears the same way.
    await hv.withdraw(100, parseDestination('10.0.1.0/24'), nextHop('2001:db8::a'));
    await waitRows(page, { vni: '100', count: 1 }, 3000);

    // Everything came from the page's own origin: no external asset.
    const origin = new URL(http.url).origin;
    assert.ok(
      requests.every((u) => u.startsWith(origin) || u.startsWith('data:')),
      requests.join('\n'),
    );
    assert.deepEqual(errors, []);
  });

  it('with 100,000 routes the filter answers in under 500 ms; screenshot', async (t) => {
    const announce: { vni: number; route: Route }[] = [];
    const hops = Array.from({ length: 50 }, (_, i) => nextHop(`2001:db8::${(i + 1).toString(16)}`));
    for (let i = 0; i < 100_000; i++) {
      const dest = parseDestination(
        `10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`,
      );
      announce.push({
        vni: 100 + (i % 4),
        route: { destination: dest, nextHop: hops[i % 50] ?? nextHop('2001:db8::1') },
      });
    }
    announce.push({
      vni: 100,
      route: route('2001:db8:100::/48', natNextHop('2001:db8::aa', 4096, 8191)),
    });
    const { http, server } = await setup(t, announce);
    assert.equal(server.routeCount, 100_001);
    const ctx = await browser(t);
    const page = await ctx.newPage();
    let routeBytes = 0;
    page.on('response', (r) => {
      if (r.url().includes('/api/routes'))
        void r.body().then((b) => (routeBytes = Math.max(routeBytes, b.length)));
    });
    await page.goto(http.url);
    await page.waitForSelector('#live.ok');
    // The page shows one page of the table, never the table.
    await waitRows(page, { count: 100 });
    const timings: number[] = [];
    const filters: [string, string, Want][] = [
      ['#f-prefix', '10.1.2.', { prefix: '10.1.2.' }],
      ['#f-nexthop', '2001:db8::2a', { nexthop: '2001:db8::2a' }],
      ['#f-prefix', '10.0.0.0/24', { prefix: '10.0.0.' }],
      ['#f-vni', '103', { vni: '103', count: 100 }],
    ];
    for (const [field, value, want] of filters) {
      await page.click('#f-clear');
      await waitRows(page, { count: 100 });
      await page.waitForFunction(
        () => document.querySelector<HTMLElement>('#routes-info')?.dataset.matched === '100001',
      );
      const started = Date.now();
      await page.fill(field, value);
      await waitRows(page, want);
      timings.push(Date.now() - started);
    }
    t.diagnostic(
      `filter answered after ${timings.join(', ')} ms (typing to rows shown, 100 ms debounce included); largest /api/routes response ${String(routeBytes)} bytes`,
    );
    for (const ms of timings) assert.ok(ms < 500, `filter took ${String(ms)} ms`);
    assert.ok(routeBytes < 100_000, 'a page of routes, not the table');

    // Screenshot of a filtered view, after the plot has a few samples.
    await page.click('#f-clear');
    await page.fill('#f-vni', '100');
    await waitRows(page, { vni: '100', count: 100 });
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('#routes-info')?.dataset.matched === '25001',
    );
    await page.waitForFunction(() => document.querySelectorAll('#plot polyline').length === 2);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'status-page.png');
    await page.screenshot({ path: file, fullPage: false });
    t.diagnostic(`screenshot: ${file}`);
    assert.ok(existsSync(file));
  });
});
