import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { AuthorizationLoader } from '../../src/access/authorization-loader.js';
import {
  ALL_RIGHTS,
  parseAuthorization,
  revoked,
  rightsFor,
} from '../../src/access/authorization.js';
import {
  certificateIdentity,
  describeIdentity,
  parseSubjectAltName,
  type Identity,
} from '../../src/access/identity.js';
import { VniSet, parseVniList } from '../../src/access/vni-set.js';
import { ParseError } from '../../src/errors.js';

const EXAMPLE = `# tsbond authorisation
version: 1
rules:
  - name: rack-1 hypervisors
    match:
      cidr: [10.1.0.0/16, "2001:db8:1::/48"]
    announce: [100, 200-299]
    subscribe: [100, 200-299]

  - name: tenant-a agents
    match:
      subject: "CN=agent-*, O=Tenant A"
    announce: 300
    subscribe: all

  - name: spiffe workloads
    match:
      uri: spiffe://example.net/hv/*
      dns: "*.hv.example.net"
    subscribe: [400]

  - name: by IP SAN from the management network
    match:
      ip: 192.0.2.0/24
      cidr: 10.9.0.0/16
    announce: 500-501
`;

const certId = (
  address: string,
  subject: Record<string, string | string[]>,
  san = '',
): Identity => ({
  address,
  certificate: certificateIdentity({ subject, subjectaltname: san }),
});

describe('VNI sets', () => {
  it('parses numbers, ranges, all and none', () => {
    assert.equal(parseVniList([100, '200-299', '250-300', 301], 'x').toString(), '100,200-301');
    assert.equal(parseVniList('all', 'x').toString(), 'all');
    assert.equal(parseVniList('*', 'x').toString(), 'all');
    assert.equal(parseVniList('none', 'x').toString(), 'none');
    assert.equal(parseVniList([], 'x').toString(), 'none');
    assert.equal(parseVniList(7, 'x').toString(), '7');
    assert.equal(parseVniList(['0-4294967295'], 'x').isAll, true);
    for (const bad of ['5-3', '-1', 'x', '4294967296', '1.5', '01'] as const) {
      assert.throws(() => parseVniList([bad], 'announce'), ParseError, bad);
    }
    assert.throws(() => parseVniList([1.5], 'announce'), /announce item 1/);
    assert.throws(() => parseVniList([{ a: 1 }], 'announce'), /announce item 1/);
  });

  it('membership and union agree with a plain reference (property)', () => {
    const range = fc
      .tuple(fc.nat({ max: 1000 }), fc.nat({ max: 50 }))
      .map(([a, n]) => [a, a + n] as const);
    fc.assert(
      fc.property(
        fc.array(range, { maxLength: 8 }),
        fc.array(range, { maxLength: 8 }),
        fc.nat({ max: 1100 }),
        (r1, r2, v) => {
          const a = VniSet.of(r1);
          const b = VniSet.of(r2);
          const inA = r1.some(([x, y]) => v >= x && v <= y);
          const inB = r2.some(([x, y]) => v >= x && v <= y);
          assert.equal(a.has(v), inA);
          assert.equal(a.union(b).has(v), inA || inB);
          assert.equal(b.union(a).toString(), a.union(b).toString());
          // Canonical: sorted, disjoint, not adjacent.
          for (let i = 1; i < a.ranges.length; i++) {
            assert.ok((a.ranges[i]?.[0] ?? 0) > (a.ranges[i - 1]?.[1] ?? 0) + 1);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('identities from certificates', () => {
  it("parses Node's subjectaltname text, quoted values included", () => {
    assert.deepEqual(
      parseSubjectAltName(
        'DNS:hv1.example.net, IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1, URI:spiffe://example.net/hv/1, email:a@b.c, DNS:"x,y.example"',
      ),
      [
        { type: 'DNS', value: 'hv1.example.net' },
        { type: 'IP', value: '10.0.0.1' },
        { type: 'IP', value: '2001:DB8:0:0:0:0:0:1' },
        { type: 'URI', value: 'spiffe://example.net/hv/1' },
        { type: 'email', value: 'a@b.c' },
        { type: 'DNS', value: 'x,y.example' },
      ],
    );
    assert.deepEqual(parseSubjectAltName(undefined), []);
    assert.deepEqual(parseSubjectAltName(''), []);
  });

  it('takes subjects with repeated attributes; no certificate gives undefined', () => {
    const c = certificateIdentity({ subject: { CN: 'a', OU: ['x', 'y'] } });
    assert.deepEqual(c?.subject, { CN: ['a'], OU: ['x', 'y'] });
    assert.equal(certificateIdentity({}), undefined);
    assert.equal(certificateIdentity(null), undefined);
    assert.equal(
      describeIdentity(certId('::1', { CN: 'a', O: 'b' }, 'DNS:x')),
      '::1 CN=a,O=b DNS:x',
    );
    assert.equal(describeIdentity({ address: '::1' }), '::1');
  });
});

describe('authorisation policy', () => {
  const policy = parseAuthorization(EXAMPLE, 'auth.yaml');

  it('parses the documented example', () => {
    assert.equal(policy.rules.length, 4);
    assert.deepEqual(
      policy.rules.map((r) => [r.name, r.line, r.announce.toString(), r.subscribe.toString()]),
      [
        ['rack-1 hypervisors', 4, '100,200-299', '100,200-299'],
        ['tenant-a agents', 10, '300', 'all'],
        ['spiffe workloads', 16, 'none', '400'],
        ['by IP SAN from the management network', 22, '500-501', 'none'],
      ],
    );
  });

  it('grants by source CIDR, also to IPv4-mapped addresses', () => {
    const r = policy.rights({ address: '::ffff:10.1.2.3' });
    assert.deepEqual(r.rules, ['rack-1 hypervisors']);
    assert.ok(r.mayAnnounce(100) && r.mayAnnounce(250) && !r.mayAnnounce(300));
    assert.ok(r.maySubscribe(299) && !r.maySubscribe(400));
    assert.ok(policy.rights({ address: '2001:db8:1::9' }).mayAnnounce(100));
  });

  it('no matching rule, no right', () => {
    const r = policy.rights({ address: '192.0.2.1' });
    assert.deepEqual(r.rules, []);
    for (const v of [0, 100, 300, 400, 500, 4294967295]) {
      assert.ok(!r.mayAnnounce(v) && !r.maySubscribe(v));
    }
  });

  it('matches certificate subjects with * patterns; certificate rules need a certificate', () => {
    const a = policy.rights(certId('192.0.2.1', { CN: 'agent-7', O: 'Tenant A', C: 'DE' }));
    assert.deepEqual(a.rules, ['tenant-a agents']);
    assert.ok(a.mayAnnounce(300) && !a.mayAnnounce(100) && a.maySubscribe(12345));
    assert.deepEqual(
      policy.rights(certId('192.0.2.1', { CN: 'agent-7', O: 'Tenant B' })).rules,
      [],
    );
    assert.deepEqual(policy.rights(certId('192.0.2.1', { CN: 'agent-7' })).rules, []);
    assert.deepEqual(
      policy.rights(certId('192.0.2.1', { CN: 'xagent-7', O: 'Tenant A' })).rules,
      [],
    );
  });

  it('needs every match key of a rule (URI and DNS here); DNS * stays within one label', () => {
    const both = certId(
      '::1',
      { CN: 'w' },
      'DNS:n1.hv.example.net, URI:spiffe://example.net/hv/n1',
    );
    assert.deepEqual(policy.rights(both).rules, ['spiffe workloads']);
    const onlyUri = certId('::1', { CN: 'w' }, 'URI:spiffe://example.net/hv/n1');
    assert.deepEqual(policy.rights(onlyUri).rules, []);
    const deep = certId(
      '::1',
      { CN: 'w' },
      'DNS:a.b.hv.example.net, URI:spiffe://example.net/hv/n1',
    );
    assert.deepEqual(policy.rights(deep).rules, []);
    const upper = certId(
      '::1',
      { CN: 'w' },
      'DNS:N1.HV.Example.NET, URI:spiffe://example.net/hv/x/y',
    );
    assert.deepEqual(policy.rights(upper).rules, ['spiffe workloads'], 'DNS case-insensitive');
  });

  it("matches IP SANs by prefix (in Node's text form) together with the source CIDR", () => {
    const id = certId('10.9.1.1', { CN: 'm' }, 'IP Address:192.0.2.77');
    assert.deepEqual(policy.rights(id).rules, ['by IP SAN from the management network']);
    assert.deepEqual(
      policy.rights(certId('10.8.1.1', { CN: 'm' }, 'IP Address:192.0.2.77')).rules,
      [],
    );
    const p6 = parseAuthorization(`rules:\n  - match: { ip: "2001:db8::/32" }\n    announce: 1\n`);
    assert.ok(p6.rights(certId('::1', {}, 'IP Address:2001:DB8:0:0:0:0:0:1')).mayAnnounce(1));
  });

  it('gives the union of every matching rule', () => {
    const id = certId('10.1.0.5', { CN: 'agent-1', O: 'Tenant A' });
    const r = policy.rights(id);
    assert.deepEqual(r.rules, ['rack-1 hypervisors', 'tenant-a agents']);
    assert.equal(r.announce.toString(), '100,200-300');
    assert.equal(r.subscribe.toString(), 'all');
  });

  it('union semantics hold for random rule sets (property)', () => {
    const rule = fc.record({
      cidr: fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '::/0', '2001:db8::/32', '192.0.2.0/24'),
      announce: fc.array(fc.nat({ max: 20 }), { maxLength: 4 }),
      subscribe: fc.array(fc.nat({ max: 20 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 6 }),
        fc.constantFrom('10.1.2.3', '::ffff:10.2.2.2', '2001:db8::5', '192.0.2.9', '::1'),
        fc.nat({ max: 21 }),
        (rules, address, vni) => {
          const text = `rules:${rules.length === 0 ? ' []' : ''}\n${rules
            .map(
              (r) =>
                `  - match: { cidr: "${r.cidr}" }\n    announce: [${r.announce.join(',')}]\n    subscribe: [${r.subscribe.join(',')}]\n`,
            )
            .join('')}`;
          const p = parseAuthorization(text);
          const rights = p.rights({ address });
          const matching = p.rules.filter((r) => r.cidr?.matches(address) === true);
          assert.equal(
            rights.mayAnnounce(vni),
            matching.some((r) => r.announce.has(vni)),
          );
          assert.equal(
            rights.maySubscribe(vni),
            matching.some((r) => r.subscribe.has(vni)),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('without a file everything is allowed', () => {
    assert.equal(rightsFor(undefined, { address: '::1' }), ALL_RIGHTS);
    assert.ok(ALL_RIGHTS.mayAnnounce(4294967295) && ALL_RIGHTS.maySubscribe(0));
    assert.ok(!rightsFor(policy, { address: '::1' }).mayAnnounce(100));
  });

  it('says what a peer holds that new rights no longer allow', () => {
    const r = policy.rights({ address: '10.1.0.1' });
    assert.deepEqual(revoked(r, { subscribed: [100, 400, 250], announcedVnis: [300, 100] }), {
      unsubscribe: [400],
      withdrawIn: [300],
    });
  });

  it('accepts JSON', () => {
    const p = parseAuthorization(
      JSON.stringify({ rules: [{ match: { cidr: '::/0' }, subscribe: 'all' }] }),
    );
    assert.ok(p.rights({ address: '10.0.0.1' }).maySubscribe(5));
    assert.ok(!p.rights({ address: '10.0.0.1' }).mayAnnounce(5));
    assert.equal(p.rules[0]?.name, 'rule 1');
  });

  it('an empty rule list grants nothing', () => {
    const p = parseAuthorization('rules: []\n');
    assert.deepEqual(p.rights({ address: '::1' }).rules, []);
  });
});

describe('authorisation file errors', () => {
  const cases: [string, string, RegExp][] = [
    [
      'unknown rule key',
      'rules:\n  - match: {cidr: "::/0"}\n    annonce: [1]\n',
      /f\.yaml: rule 1 \(line 3\): unknown key 'annonce'/,
    ],
    [
      'named rule in the message',
      "rules:\n  - name: hv\n    match: {cidr: '::/0'}\n    announce: [1]\n  - name: bad\n    match: {cidr: '10.0.0.0/33'}\n    announce: 1\n",
      /rule 2 'bad' \(line 6\): match invalid CIDR '10\.0\.0\.0\/33'/,
    ],
    [
      'bad VNI range',
      'rules:\n  - match: {cidr: "::/0"}\n    subscribe: [1, 9-3]\n',
      /rule 1 \(line 3\): subscribe item 2: range '9-3'/,
    ],
    ['missing match', 'rules:\n  - announce: [1]\n', /rule 1 \(line 2\): missing 'match'/],
    ['empty match', 'rules:\n  - match: {}\n    announce: [1]\n', /match is empty/],
    [
      'unknown match key',
      'rules:\n  - match:\n      san: x\n    announce: [1]\n',
      /rule 1 \(line 3\): unknown match key 'san'/,
    ],
    ['grants nothing', 'rules:\n  - match: {cidr: "::/0"}\n', /grants nothing/],
    [
      'bad subject',
      'rules:\n  - match: {subject: "agent"}\n    announce: 1\n',
      /subject item 1: 'agent' is not ATTRIBUTE=VALUE/,
    ],
    ['not a map', 'rules:\n  - 5\n', /rule 1 \(line 2\): expected a map/],
    ['rules not a list', 'rules: {a: 1}\n', /line 1: rules must be a list/],
    ['missing rules', 'version: 1\n', /missing 'rules'/],
    ['unknown top key', 'rulez: []\n', /line 1: unknown key 'rulez'/],
    ['wrong version', 'version: 2\nrules: []\n', /version must be 1/],
    ['YAML syntax', 'rules:\n  - match: [\n', /f\.yaml at line \d+: /],
    [
      'duplicate key',
      'rules:\n  - match: {cidr: "::/0"}\n    announce: 1\n    announce: 2\n',
      /f\.yaml at line 4/,
    ],
    [
      'empty name',
      'rules:\n  - name: ""\n    match: {cidr: "::/0"}\n    announce: 1\n',
      /name must be a non-empty string/,
    ],
    ['empty cidr list', 'rules:\n  - match: {cidr: []}\n    announce: 1\n', /match cidr: empty/],
  ];
  for (const [what, text, re] of cases) {
    it(what, () => {
      assert.throws(
        () => parseAuthorization(text, 'f.yaml'),
        (e: unknown) => e instanceof ParseError && re.test(e.message),
      );
    });
  }
});

describe('authorisation file loader', () => {
  it('loads, reloads, and keeps the old policy when the new file is broken or gone', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbond-auth-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'auth.yaml');
    await writeFile(path, 'rules:\n  - match: {cidr: "::/0"}\n    announce: [1]\n');
    const loader = AuthorizationLoader.loadSync(path);
    assert.ok(loader.policy.rights({ address: '::1' }).mayAnnounce(1));

    await writeFile(path, 'rules:\n  - match: {cidr: "::/0"}\n    announce: [2]\n');
    const ok = await loader.reload();
    assert.equal(ok.ok, true);
    assert.ok(loader.policy.rights({ address: '::1' }).mayAnnounce(2));
    assert.ok(!loader.policy.rights({ address: '::1' }).mayAnnounce(1));

    await writeFile(path, 'rules:\n  - match: {cidr: "::/0"}\n    announce: [x]\n');
    const bad = await loader.reload();
    assert.ok(!bad.ok);
    assert.match(bad.error.message, /auth\.yaml: rule 1 \(line 3\)/);
    assert.ok(loader.policy.rights({ address: '::1' }).mayAnnounce(2), 'old policy kept');

    await rm(path);
    const gone = await loader.reload();
    assert.ok(!gone.ok);
    assert.match(gone.error.message, /no such file/);
    assert.ok(loader.policy.rights({ address: '::1' }).mayAnnounce(2));

    assert.throws(
      () => AuthorizationLoader.loadSync(path),
      /cannot read authorization file .*no such file/,
    );
    await assert.rejects(AuthorizationLoader.load(path), ParseError);
  });
});
