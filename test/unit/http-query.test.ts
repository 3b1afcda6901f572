import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hostAllowed, hostOfHeader } from '../../src/http/host-check.js';
import {
  parseRouteQuery,
  queryRoutes,
  routeMatcher,
  RowCache,
} from '../../src/http/route-query.js';
import { Slicer } from '../../src/http/slicer.js';
import { parseListen } from '../../src/http/status-server.js';
import { route } from '../../src/model/route.js';
import { fakeSource, generatedRows, listSource } from '../helpers/http-fixture.js';

describe('route queries', () => {
  const rows = [
    { vni: 100, route: route('10.0.1.0/24', '2001:db8::1') },
    { vni: 100, route: route('10.0.1.0/24', '2001:db8::2') },
    { vni: 100, route: route('10.0.2.7/24', '2001:db8::2') },
    { vni: 100, route: route('2001:db8:1::/48', '2001:db8::3') },
    { vni: 200, route: route('10.0.1.0/24', '2001:db8::3') },
    { vni: 200, route: route('192.168.0.0/16', '2001:db8::1') },
  ];
  const source = listSource(rows);
  const q = (s: string) => parseRouteQuery(new URLSearchParams(s));

  it('parses the query string, clamping offset and limit', () => {
    assert.deepEqual(q('vni=100&prefix=10.0.&nexthop=2001:db8::1&offset=5&limit=20'), {
      vni: 100,
      prefix: '10.0.',
      nexthop: '2001:db8::1',
      offset: 5,
      limit: 20,
    });
    assert.deepEqual(q('limit=999999'), { offset: 0, limit: 1000 });
    assert.deepEqual(q('vni=&prefix=%20'), { offset: 0, limit: 100 });
    assert.throws(() => q('vni=abc'), { code: 'PARSE' });
    assert.throws(() => q('offset=-1'), { code: 'PARSE' });
  });

  it('prefix: a CIDR matches what lies inside it, other text the start of the prefix', () => {
    const m = (prefix: string) => rows.filter((r) => routeMatcher({ prefix })?.(r.route) === true);
    assert.equal(m('10.0.0.0/16').length, 4);
    assert.equal(m('10.0.1.0/24').length, 3);
    assert.equal(m('10.0.2.0/24').length, 1, 'host bits of the route do not matter');
    assert.equal(m('10.0.1.0/25').length, 0, 'a longer CIDR does not contain a /24');
    assert.equal(m('2001:db8::/32').length, 1);
    assert.equal(m('0.0.0.0/0').length, 5);
    assert.equal(m('10.0.').length, 4);
    assert.equal(m('2001:DB8:').length, 1, 'case-insensitive');
    assert.equal(routeMatcher({}), undefined);
  });

  it('filters by VNI, prefix and next hop, pages, and counts the matches', async () => {
    const r = await queryRoutes(source, q('nexthop=2001:db8::2'), new Slicer());
    assert.deepEqual(
      r.rows.map((x) => `${String(x.vni)} ${x.prefix} ${x.nextHop}`),
      ['100 10.0.1.0/24 2001:db8::2', '100 10.0.2.7/24 2001:db8::2'],
    );
    assert.equal(r.matched, 2);
    assert.equal(r.complete, true);
    const p2 = await queryRoutes(source, q('offset=2&limit=2'), new Slicer());
    assert.deepEqual(
      p2.rows.map((x) => `${String(x.vni)} ${x.prefix} ${x.nextHop}`),
      ['100 10.0.2.7/24 2001:db8::2', '100 2001:db8:1::/48 2001:db8::3'],
    );
    assert.equal(p2.matched, 6);
    const v = await queryRoutes(source, q('vni=200&prefix=10.0.0.0/8'), new Slicer());
    assert.deepEqual(
      v.rows.map((x) => x.prefix),
      ['10.0.1.0/24'],
    );
    assert.deepEqual(v.rows[0]?.owners, ['[::1]:1']);
  });

  it('stops counting past the page at the budget and says the total is a lower bound', async () => {
    const big = fakeSource(new Map([[1, generatedRows(1, 50_000)]]));
    const r = await queryRoutes(big, q('prefix=10.0.&limit=10'), new Slicer(), 1000);
    assert.equal(r.rows.length, 10);
    assert.equal(r.complete, false);
    assert.ok(r.matched >= 10 && r.matched <= 1010, String(r.matched));
    const all = await queryRoutes(big, q('prefix=10.0.&limit=10'), new Slicer());
    assert.equal(all.complete, true);
    assert.equal(all.matched, 50_000);
  });

  it('uses the per-VNI counts of the source instead of scanning when there is no text filter', async () => {
    let walked = 0;
    const counted = fakeSource(
      new Map([
        [
          1,
          () => {
            walked++;
            return generatedRows(1, 100)();
          },
        ],
        [
          2,
          () => {
            walked++;
            return generatedRows(2, 100)();
          },
        ],
      ]),
      new Map([
        [1, 100],
        [2, 100],
      ]),
    );
    const r = await queryRoutes(counted, q('offset=150&limit=10'), new Slicer());
    assert.equal(r.matched, 200);
    assert.equal(walked, 1, 'VNI 1 skipped by its count');
    assert.deepEqual([...new Set(r.rows.map((x) => x.vni))], [2]);
  });

  it('the row cache is warmed ahead of a filter, within its bound', async () => {
    const walked = new Map<number, number>();
    const walk = (vni: number, n: number) => () => {
      walked.set(vni, (walked.get(vni) ?? 0) + 1);
      return generatedRows(vni, n)();
    };
    const src = fakeSource(
      new Map([
        [1, walk(1, 100)],
        [2, walk(2, 100)],
        [3, walk(3, 100)],
      ]),
      new Map([
        [1, 100],
        [2, 100],
        [3, 100],
      ]),
    );
    const cache = new RowCache(src, 250);
    await cache.warm([1, 2, 3], new Slicer());
    assert.equal(walked.size, 0, 'a first look reads nothing (the VNIs may be changing)');
    await cache.warm([1, 2, 3], new Slicer());
    assert.deepEqual(
      [...walked],
      [
        [1, 1],
        [2, 1],
      ],
    );
    const r = await queryRoutes(src, q('vni=1&prefix=10.0.0.'), new Slicer(), 1000, cache);
    assert.equal(r.matched, 100);
    assert.equal(walked.get(1), 1, 'the filter scanned the cached rows');

    // A table that changes between two looks is not read ahead (it would be stale at once).
    let version = 0;
    const busy = new RowCache({ ...src, changes: () => ({ total: version++ }) }, 250);
    const before = walked.get(3);
    await busy.warm([3], new Slicer());
    await busy.warm([3], new Slicer());
    assert.equal(walked.get(3), before, 'a changing VNI is not warmed');

    // A query arriving while the warm-up reads a VNI waits for that read instead of repeating it.
    const fresh = new RowCache(src, 250);
    const slow = new Slicer(0); // yields every 16 rows: the read spans event-loop turns
    await fresh.warm([3], slow);
    const warming = fresh.warm([3], slow);
    const q3 = await queryRoutes(src, q('vni=3&prefix=10.0.0.'), new Slicer(), 1000, fresh);
    await warming;
    assert.equal(q3.matched, 100);
    assert.equal(walked.get(3), 1, 'one read of VNI 3');

    // An unfiltered page reads the cached rows when current, otherwise only the page's rows from
    // the table: a changing VNI is never read whole for a page of 10.
    const pageOf = (vni: number) => q(`vni=${String(vni)}&offset=0&limit=10`);
    const unchanged = await queryRoutes(src, pageOf(1), new Slicer(), 1000, cache);
    assert.equal(unchanged.rows.length, 10);
    assert.equal(walked.get(1), 1, 'served from the current cache');
    const readBefore = walked.get(3);
    const changing = await queryRoutes(src, pageOf(3), new Slicer(), 1000, busy);
    assert.equal(changing.rows.length, 10);
    assert.equal(changing.scanned, 10, 'only the page was read');
    assert.equal(walked.get(3), (readBefore ?? 0) + 1);
  });
});

describe('Host header check (DNS rebinding)', () => {
  it('parses Host values', () => {
    assert.equal(hostOfHeader('[::1]:4712'), '::1');
    assert.equal(hostOfHeader('LOCALHOST:80'), 'localhost');
    assert.equal(hostOfHeader('10.1.2.3'), '10.1.2.3');
    assert.equal(hostOfHeader('[::1]x'), undefined);
    assert.equal(hostOfHeader('a:b:c'), undefined);
  });

  it('accepts IP literals, localhost and allowed names; refuses other names', () => {
    for (const h of [
      '[::1]:4712',
      '127.0.0.1:4712',
      '10.0.0.5',
      '[2001:db8::1]',
      'localhost:4712',
      'tsbond.localhost',
      'LocalHost.',
    ])
      assert.equal(hostAllowed(h, []), true, h);
    for (const h of [
      undefined,
      '',
      'evil.example',
      'evil.example:4712',
      'localhost.evil.example',
      '127.0.0.1.nip.io',
      '[::1',
    ])
      assert.equal(hostAllowed(h, []), false, String(h));
    assert.equal(hostAllowed('tsbond.example.org:4712', ['TSBOND.example.org']), true);
    assert.equal(hostAllowed('other.example.org', ['tsbond.example.org']), false);
  });

  it('--http values: a port alone means loopback', () => {
    assert.deepEqual(parseListen('4712'), { host: '::1', port: 4712 });
    assert.deepEqual(parseListen(':4712'), { host: '::1', port: 4712 });
    assert.deepEqual(parseListen('[::]:4712'), { host: '::', port: 4712 });
    assert.deepEqual(parseListen('0.0.0.0:9712'), { host: '0.0.0.0', port: 9712 });
  });
});
