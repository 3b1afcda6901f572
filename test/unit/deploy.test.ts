/**
 * deploy/: Kubernetes manifests (required fields, selectors, probes on paths and ports tsbond
 * serves), the Prometheus alert rules (shape, metric names that exist), the systemd units and the
 * Dockerfile.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { parseAllDocuments, parse as parseYaml } from 'yaml';

import { createMetrics } from '../../src/http/metrics.js';
import type { MetricsSource } from '../../src/http/sources.js';
import { parseListen } from '../../src/http/status-server.js';

const DEPLOY = new URL('../../deploy/', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, DEPLOY), 'utf8');

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${what}: an object`);
  return v as Obj;
};
const arr = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v) && v.length > 0, `${what}: a non-empty list`);
  return v;
};
const str = (v: unknown, what: string): string => {
  assert.ok(typeof v === 'string' && v !== '', `${what}: a non-empty string`);
  return v;
};

/** Paths each tsbond listener serves. */
const METRICS_PATHS = ['/metrics', '/healthz', '/readyz'];
const HTTP_PATHS = [...METRICS_PATHS, '/', '/routes.json', '/routes.yaml'];

/** Ports the container's tsbond args listen on, with the paths served there. */
function servedPorts(args: string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [flag, paths] of [
    ['--metrics', METRICS_PATHS],
    ['--http', HTTP_PATHS],
  ] as const) {
    const i = args.indexOf(flag);
    if (i === -1) continue;
    const hp = parseListen(str(args[i + 1], `${flag} value`));
    // Probes come from the kubelet over the pod network: a loopback listener cannot serve them.
    if (hp.host !== '::1' && !hp.host.startsWith('127.')) out.set(hp.port, [...paths]);
  }
  return out;
}

function checkWorkload(doc: Obj, name: string): Obj {
  const spec = obj(doc.spec, `${name} spec`);
  const selector = obj(obj(spec.selector, `${name} selector`).matchLabels, `${name} matchLabels`);
  const template = obj(spec.template, `${name} template`);
  const meta = obj(template.metadata, `${name} template.metadata`);
  const labels = obj(meta.labels, `${name} template labels`);
  for (const [k, v] of Object.entries(selector))
    assert.equal(labels[k], v, `${name}: selector ${k} matches the template's labels`);
  const pod = obj(template.spec, `${name} pod spec`);
  const containers = arr(pod.containers, `${name} containers`).map((c, i) =>
    obj(c, `container ${String(i)}`),
  );
  for (const c of containers) {
    const cname = str(c.name, `${name} container name`);
    str(c.image, `${cname} image`);
    const args = arr(c.args, `${cname} args`).map((a) => str(a, 'arg'));
    assert.ok(['server', 'client'].includes(args[0] ?? ''), `${cname}: tsbond server|client`);
    const served = servedPorts(args);
    const ports = arr(c.ports, `${cname} ports`).map((p) => obj(p, 'port'));
    const byName = new Map(ports.map((p) => [str(p.name, 'port name'), p.containerPort]));
    for (const p of ports) {
      assert.equal(typeof p.containerPort, 'number');
      assert.match(str(p.name, 'port name'), /^[a-z0-9-]{1,15}$/);
    }
    for (const probeName of ['readinessProbe', 'livenessProbe']) {
      const probe = obj(c[probeName], `${cname} ${probeName}`);
      const get = obj(probe.httpGet, `${cname} ${probeName}.httpGet`);
      const port = typeof get.port === 'string' ? byName.get(get.port) : get.port;
      assert.equal(typeof port, 'number', `${cname} ${probeName}: port names a container port`);
      const paths = served.get(port as number);
      assert.ok(
        paths !== undefined,
        `${cname} ${probeName}: tsbond listens on port ${String(port)}`,
      );
      assert.ok(
        paths.includes(str(get.path, 'path')),
        `${cname} ${probeName}: ${String(get.path)} is served there`,
      );
    }
    assert.equal(obj(obj(c.readinessProbe, 'readiness').httpGet, 'httpGet').path, '/readyz');
    // Prometheus scrape annotations point at a port serving /metrics.
    const ann = obj(meta.annotations, `${name} annotations`);
    assert.equal(ann['prometheus.io/scrape'], 'true');
    assert.equal(ann['prometheus.io/path'], '/metrics');
    assert.ok(
      served.get(Number(ann['prometheus.io/port']))?.includes('/metrics'),
      `${name}: scrape port`,
    );
  }
  return pod;
}

describe('deploy/kubernetes', () => {
  const docs = readdirSync(new URL('kubernetes/', DEPLOY))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(read(`kubernetes/${f}`)).map((d) => {
        assert.deepEqual(d.errors, [], f);
        return { file: f, doc: obj(d.toJS(), f) };
      }),
    );

  it('every object has apiVersion, kind and metadata.name', () => {
    assert.ok(docs.length >= 3);
    for (const { file, doc } of docs) {
      str(doc.apiVersion, `${file} apiVersion`);
      str(doc.kind, `${file} kind`);
      assert.match(
        str(obj(doc.metadata, `${file} metadata`).name, 'name'),
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
      );
    }
  });

  it('server: a Deployment and a Service selecting its pods, probes on /readyz and /healthz', () => {
    const dep = docs.find((d) => d.doc.kind === 'Deployment')?.doc;
    assert.ok(dep !== undefined);
    assert.equal(dep.apiVersion, 'apps/v1');
    const pod = checkWorkload(dep, 'Deployment');
    const container = obj(arr(pod.containers, 'c')[0], 'c');
    assert.equal(obj(pod.securityContext, 'pod securityContext').runAsNonRoot, true);
    assert.equal(obj(container.securityContext, 'securityContext').allowPrivilegeEscalation, false);
    const svc = docs.find((d) => d.doc.kind === 'Service')?.doc;
    assert.ok(svc !== undefined);
    assert.equal(svc.apiVersion, 'v1');
    const sel = obj(obj(svc.spec, 'svc spec').selector, 'svc selector');
    const labels = obj(obj(obj(obj(dep.spec, 's').template, 't').metadata, 'm').labels, 'l');
    for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `Service selector ${k}`);
    const portNames = arr(container.ports, 'ports').map((p) => obj(p, 'p').name);
    for (const p of arr(obj(svc.spec, 's').ports, 'svc ports'))
      assert.ok(
        portNames.includes(obj(p, 'p').targetPort),
        `targetPort ${String(obj(p, 'p').targetPort)}`,
      );
  });

  it('client: a DaemonSet on the host network with NET_ADMIN only, --cleanup', () => {
    const ds = docs.find((d) => d.doc.kind === 'DaemonSet')?.doc;
    assert.ok(ds !== undefined);
    assert.equal(ds.apiVersion, 'apps/v1');
    const pod = checkWorkload(ds, 'DaemonSet');
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    const c = obj(arr(pod.containers, 'c')[0], 'c');
    const caps = obj(obj(c.securityContext, 'securityContext').capabilities, 'capabilities');
    assert.deepEqual(caps.add, ['NET_ADMIN']);
    assert.deepEqual(caps.drop, ['ALL']);
    assert.ok((c.args as string[]).includes('--cleanup'));
  });
});

describe('deploy/prometheus', () => {
  it('alert rules: groups of rules with alert, expr, labels.severity, annotations.summary; only metrics tsbond exports', async () => {
    // Every metric a source can have: the names tsbond may export.
    const everything: MetricsSource = {
      role: 'server',
      sessionCounts: () => ({}),
      sessionResets: () => ({}),
      bytes: () => ({ received: 0, sent: 0 }),
      messages: () => ({ received: {}, sent: {} }),
      routeUpdates: () => ({ received: {}, sent: {} }),
      routesByFamilyType: () => [],
      routeCount: () => 0,
      vniCount: () => 0,
      subscriptionCount: () => 0,
      invalidUpdates: () => ({}),
      slowConsumerDisconnects: () => 0,
      backlogRoutes: () => 0,
      queuedBytes: () => 0,
      flowControlPauses: () => 0,
      connectionsAccepted: () => 0,
      staleRoutes: () => 0,
      refusals: () => ({}),
      kernel: () => ({ operations: [], routes: 0 }),
      onSnapshotDone: () => () => undefined,
      onKeepaliveRtt: () => () => undefined,
    };
    const m = await createMetrics(everything, '0.0.0');
    const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
    m.close();
    const rules = obj(parseYaml(read('prometheus/alerts.yaml')), 'alerts');
    let n = 0;
    for (const g of arr(rules.groups, 'groups')) {
      const group = obj(g, 'group');
      str(group.name, 'group name');
      for (const r of arr(group.rules, 'rules')) {
        const rule = obj(r, 'rule');
        const alert = str(rule.alert, 'alert');
        assert.match(alert, /^Tsbond[A-Za-z]+$/);
        const expr = str(rule.expr, `${alert} expr`);
        if (rule.for !== undefined) assert.match(str(rule.for, 'for'), /^\d+[smh]$/);
        assert.ok(
          ['critical', 'warning', 'info'].includes(
            str(obj(rule.labels, 'labels').severity, 'severity'),
          ),
        );
        str(obj(rule.annotations, 'annotations').summary, `${alert} summary`);
        for (const metric of expr.match(/\btsbond_[a-z0-9_]+/g) ?? [])
          assert.ok(names.has(metric), `${alert}: ${metric} is exported`);
        n++;
      }
    }
    const all = JSON.stringify(rules);
    for (const topic of [
      'ESTABLISHED',
      'tsbond_session_resets_total',
      'tsbond_backlog_routes',
      'tsbond_routes',
    ])
      assert.ok(all.includes(topic), topic);
    assert.ok(n >= 4);
  });
});

describe('deploy/systemd and Dockerfile', () => {
  const unit = (file: string): Map<string, Map<string, string>> => {
    const sections = new Map<string, Map<string, string>>();
    let cur: Map<string, string> | undefined;
    for (const line of read(`systemd/${file}`).split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const s = /^\[(\w+)\]$/.exec(line);
      if (s !== null) {
        cur = new Map();
        sections.set(s[1] ?? '', cur);
        continue;
      }
      const kv = /^(\w+)=(.*)$/.exec(line);
      assert.ok(kv !== null && cur !== undefined, `${file}: ${line}`);
      cur.set(kv[1] ?? '', kv[2] ?? '');
    }
    return sections;
  };

  it('server and client units run tsbond; the client keeps only CAP_NET_ADMIN and cleans up', () => {
    const server = unit('tsbond-server.service');
    assert.deepEqual([...server.keys()], ['Unit', 'Service', 'Install']);
    assert.match(server.get('Service')?.get('ExecStart') ?? '', /tsbond server .*--metrics \S+/);
    assert.equal(server.get('Service')?.get('CapabilityBoundingSet'), '');
    const client = unit('tsbond-client.service');
    const exec = client.get('Service')?.get('ExecStart') ?? '';
    assert.match(exec, /tsbond client .*--cleanup/);
    assert.equal(client.get('Service')?.get('AmbientCapabilities'), 'CAP_NET_ADMIN');
    assert.equal(client.get('Service')?.get('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
    assert.equal(client.get('Install')?.get('WantedBy'), 'multi-user.target');
  });

  it('Dockerfile: multi-stage, production dependencies only, non-root by default', () => {
    const text = read('Dockerfile');
    const stages = [...text.matchAll(/^FROM (\S+)( AS \w+)?$/gm)];
    assert.ok(stages.length >= 2);
    assert.match(text, /npm prune --omit=dev/);
    assert.match(text, /COPY --from=build/);
    const last = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(last, /^USER node$/m);
    assert.match(last, /^ENTRYPOINT \["node", "\/opt\/tsbond\/dist\/src\/cli\/main\.js"\]$/m);
  });
});
