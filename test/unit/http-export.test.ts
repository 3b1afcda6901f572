import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';

import { goVniOrder, writeGoRoutes, type GoRoutesFormat } from '../../src/http/go-routes.js';
import { goJsonString, goLocalDate, yamlString } from '../../src/http/go-text.js';
import { ChunkWriter, Slicer, slicedSort } from '../../src/http/slicer.js';
import type { Source } from '../../src/http/sources.js';
import { nextHop, route } from '../../src/model/route.js';
import { GO_FIXTURE_ROUTES, listSource } from '../helpers/http-fixture.js';

const DATE = new Date(2024, 0, 2, 3, 4, 5);

async function render(source: Source, format: GoRoutesFormat, version = 'development') {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const slicer = new Slicer();
  const routes = await writeGoRoutes(source, new ChunkWriter(out, slicer, 256), slicer, {
    format,
    version,
    now: DATE,
  });
  return { text: Buffer.concat(chunks).toString('utf8'), routes, slicer };
}

describe('Go-shaped route exports', () => {
  it('/routes.json: byte for byte what Go MetalBond v0.5.0 serves for the same routes', async () => {
    // Shuffled input: the order must come from the sort, not from the table.
    const rows = [...GO_FIXTURE_ROUTES].reverse();
    const { text, routes } = await render(listSource(rows), 'json');
    const golden = readFileSync(new URL('../fixtures/go-routes.json', import.meta.url), 'utf8');
    assert.equal(text, golden);
    assert.equal(routes, GO_FIXTURE_ROUTES.length);
  });

  it('/routes.yaml: yaml.v2 layout, VNIs numerically, destinations in the JSON order', async () => {
    const { text } = await render(listSource(GO_FIXTURE_ROUTES), 'yaml');
    const hop = (addr: string, type = 0, from = 0, to = 0) =>
      `    - targetaddress: ${addr}\n      targetvni: 0\n      type: ${String(type)}\n` +
      `      natportrangefrom: ${String(from)}\n      natportrangeto: ${String(to)}\n`;
    const expected =
      'date: "2024-01-02 03:04:05"\nvnet:\n' +
      `  23:\n    '{"IPVersion":4,"Prefix":"10.0.23.42/32"}':\n${hop('2001:db8::3', 2)}` +
      `  100:\n    '{"IPVersion":4,"Prefix":"10.0.0.0/8"}':\n${hop('2001:db8::3')}` +
      `    '{"IPVersion":4,"Prefix":"10.0.1.0/24"}':\n${hop('2001:db8::1')}${hop('2001:db8::3')}${hop('2001:db8::9')}` +
      `    '{"IPVersion":4,"Prefix":"9.0.0.0/8"}':\n${hop('2001:db8::10')}${hop('2001:db8::9')}` +
      `    '{"IPVersion":6,"Prefix":"2001:db8:1::/48"}':\n${hop('2001:db8::2', 1, 1024, 2048)}` +
      `  200:\n    '{"IPVersion":4,"Prefix":"10.0.2.0/24"}':\n${hop('2001:db8::2')}` +
      'metalbondversion: development\n';
    assert.equal(text, expected);
    // And it reads back as the same data as the JSON.
    const json = JSON.parse((await render(listSource(GO_FIXTURE_ROUTES), 'json')).text) as {
      vnet: Record<string, Record<string, Record<string, unknown>[]>>;
    };
    const yaml = parseYaml(text) as { vnet: Record<string, Record<string, unknown>> };
    for (const [vni, dests] of Object.entries(json.vnet)) {
      const lower = Object.fromEntries(
        Object.entries(dests).map(([d, hops]) => [
          d,
          hops.map((h) =>
            Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])),
          ),
        ]),
      );
      assert.deepEqual(yaml.vnet[vni], lower);
    }
  });

  it('an empty table: "vnet": {} and vnet: {}', async () => {
    const empty = listSource([]);
    assert.equal(
      (await render(empty, 'json', 'v1')).text,
      '{\n  "date": "2024-01-02 03:04:05",\n  "vnet": {},\n  "metalbondVersion": "v1"\n}',
    );
    assert.equal(
      (await render(empty, 'yaml', 'v1')).text,
      'date: "2024-01-02 03:04:05"\nvnet: {}\nmetalbondversion: v1\n',
    );
  });

  it('target VNIs: hops sorted by Go NextHop.String() ("addr (VNI: n)")', async () => {
    const rows = [
      { vni: 7, route: route('10.1.0.0/16', nextHop('2001:db8::1', { targetVni: 500 })) },
      { vni: 7, route: route('10.1.0.0/16', '2001:db8::1:0') },
      { vni: 7, route: route('10.1.0.0/16', '2001:db8::1') },
    ];
    const { text } = await render(listSource(rows), 'json');
    const addrs = [...text.matchAll(/"TargetAddress": "([^"]+)",\n\s+"TargetVNI": (\d+)/g)].map(
      (m) => `${m[1] ?? ''}/${m[2] ?? ''}`,
    );
    // "2001:db8::1" < "2001:db8::1 (VNI: 500)" < "2001:db8::1:0"
    assert.deepEqual(addrs, ['2001:db8::1/0', '2001:db8::1/500', '2001:db8::1:0/0']);
  });

  it('VNI order: JSON sorts keys as strings, YAML numerically', () => {
    assert.deepEqual(goVniOrder([23, 100, 3, 2000], 'json'), [100, 2000, 23, 3]);
    assert.deepEqual(goVniOrder([23, 100, 3, 2000], 'yaml'), [3, 23, 100, 2000]);
  });
});

describe('Go text scalars', () => {
  it('yaml.v2 string styles', () => {
    assert.equal(yamlString('2001:db8::3'), '2001:db8::3');
    assert.equal(yamlString('::1'), '::1');
    assert.equal(yamlString('::ffff:10.0.0.1'), '::ffff:10.0.0.1');
    assert.equal(yamlString('development'), 'development');
    assert.equal(yamlString('tsbond 0.1.0'), 'tsbond 0.1.0');
    assert.equal(yamlString('2024-01-02 03:04:05'), '"2024-01-02 03:04:05"');
    assert.equal(
      yamlString('{"IPVersion":4,"Prefix":"10.0.1.0/24"}'),
      `'{"IPVersion":4,"Prefix":"10.0.1.0/24"}'`,
    );
    // All-decimal groups read as a YAML 1.1 sexagesimal number: yaml.v2 quotes them.
    assert.equal(yamlString('2001:1:2:3:4:5:6:7'), '"2001:1:2:3:4:5:6:7"');
    assert.equal(yamlString(''), '""');
    assert.equal(yamlString('yes'), '"yes"');
    assert.equal(yamlString('1.5'), '"1.5"');
    assert.equal(yamlString("it's: here"), "'it''s: here'");
  });

  it('every yamlString reads back as the same string (YAML 1.1)', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefynot:./{}"\', #-_+~?*&!|>%@[]'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 20 }), (chars) => {
        const s = chars.join('');
        // Text starting like a number is resolved by yaml.v2 with Go's strconv, stricter than the
        // YAML 1.1 patterns of the parser used here ('.', 'e0', '0b_' read as numbers there, as
        // strings by Go; its float pattern even matches 'e0'): covered by the examples instead.
        const numberLike =
          /^[-+.0-9]/.test(s) || /^[-+]?([0-9][0-9_]*)?(\.[0-9_]*)?([eE][-+]?[0-9]+)?$/.test(s);
        fc.pre(!numberLike || yamlString(s).startsWith('"'));
        const back = parseYaml(`k: ${yamlString(s)}\n`, { version: '1.1' }) as { k: unknown };
        assert.equal(back.k, s, `${s} -> ${yamlString(s)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('JSON strings as encoding/json writes them (HTML-safe)', () => {
    assert.equal(goJsonString('{"a":1}'), '"{\\"a\\":1}"');
    assert.equal(goJsonString('<&>'), '"\\u003c\\u0026\\u003e"');
  });

  it('dates as Go formats them: 2006-01-02 15:04:05, local time', () => {
    assert.equal(goLocalDate(new Date(2024, 0, 2, 3, 4, 5)), '2024-01-02 03:04:05');
    assert.equal(goLocalDate(new Date(1999, 11, 31, 23, 59, 59)), '1999-12-31 23:59:59');
  });
});

describe('sliced work', () => {
  it('slicedSort sorts like Array.sort, stably, across runs and merges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat()), { maxLength: 3000 }),
        fc.integer({ min: 1, max: 64 }),
        async (items, run) => {
          const cmp = (a: [number, number], b: [number, number]) => a[0] - b[0];
          const expected = [...items].sort(cmp);
          const got = await slicedSort([...items], cmp, new Slicer(0.01), run);
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
