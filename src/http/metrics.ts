/**
 * /metrics: Prometheus text through prom-client, one registry per HTTP server (never the global
 * one, so several servers in one process do not collide). Every value is read from the source at
 * scrape time (collect callbacks): nothing is done per route update. prom-client is loaded when
 * the first metrics endpoint starts, so importing the library does not load it.
 */

import type { Counter, Gauge, Registry } from 'prom-client';

import type { MetricsSource } from './sources.js';

/** Session states, always exported (0 included) so that alerts on absence are not needed. */
const SESSION_STATES = [
  'CONNECTING',
  'HELLO_SENT',
  'HELLO_RECEIVED',
  'ESTABLISHED',
  'RETRY',
  'CLOSED',
] as const;

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  text(): Promise<string>;
  close(): void;
}

type Labels = Record<string, string>;

export async function createMetrics(source: MetricsSource, version: string): Promise<Metrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const unhooks: (() => void)[] = [];
  const registers = [registry];

  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    read: (set: (labels: Labels, v: number) => void) => void,
  ): Gauge => {
    return new prom.Gauge({
      name,
      help,
      labelNames,
      registers,
      collect(this: Gauge) {
        this.reset();
        read((labels, v) => {
          this.set(labels, v);
        });
      },
    });
  };
  /** A counter whose absolute value is read from the source (monotonic there). */
  const counter = (
    name: string,
    help: string,
    labelNames: string[],
    read: (set: (labels: Labels, v: number) => void) => void,
  ): Counter => {
    return new prom.Counter({
      name,
      help,
      labelNames,
      registers,
      collect(this: Counter) {
        this.reset();
        read((labels, v) => {
          this.inc(labels, v);
        });
      },
    });
  };
  const each = (
    rec: Readonly<Record<string, number>>,
    label: string,
    set: (l: Labels, v: number) => void,
  ): void => {
    for (const [k, v] of Object.entries(rec)) set({ [label]: k }, v);
  };

  const role = source.role;
  gauge(
    'tsbond_build_info',
    'tsbond build: version, Node.js version and role; always 1',
    ['version', 'nodejs', 'role'],
    (set) => {
      set({ version, nodejs: process.versions.node, role }, 1);
    },
  );
  gauge('tsbond_sessions', 'Sessions by local role and state', ['role', 'state'], (set) => {
    const counts = source.sessionCounts();
    for (const st of SESSION_STATES) set({ role, state: st }, counts[st] ?? 0);
  });
  counter('tsbond_session_resets_total', 'Sessions ended, by reason', ['reason'], (set) => {
    each(source.sessionResets(), 'reason', set);
  });
  for (const dir of ['received', 'sent'] as const) {
    counter(
      `tsbond_messages_${dir}_total`,
      `Messages ${dir}, by type (all sessions)`,
      ['type'],
      (set) => {
        each(source.messages()[dir], 'type', set);
      },
    );
    counter(`tsbond_${dir}_bytes_total`, `Bytes ${dir} (all sessions)`, [], (set) => {
      set({}, source.bytes()[dir]);
    });
    counter(
      `tsbond_route_updates_${dir}_total`,
      dir === 'received'
        ? 'Route UPDATEs received and accepted, by action'
        : 'Route UPDATEs sent, by action (one per recipient)',
      ['action'],
      (set) => {
        each(source.routeUpdates()[dir], 'action', set);
      },
    );
  }
  gauge(
    'tsbond_routes',
    role === 'server'
      ? 'Distinct routes in the table, by family and next-hop type'
      : 'Received routes handed to the handler, by family and next-hop type',
    ['family', 'type'],
    (set) => {
      for (const r of source.routesByFamilyType()) set({ family: r.family, type: r.type }, r.count);
    },
  );
  gauge('tsbond_vnis', 'VNIs holding at least one route', [], (set) => {
    set({}, source.vniCount());
  });
  gauge(
    'tsbond_subscriptions',
    role === 'server' ? 'Subscriptions over all peers' : 'VNIs subscribed',
    [],
    (set) => {
      set({}, source.subscriptionCount());
    },
  );
  counter(
    'tsbond_invalid_updates_total',
    'Decodable but invalid UPDATEs dropped, by reason',
    ['reason'],
    (set) => {
      const v = source.invalidUpdates();
      if (typeof v === 'number') set({}, v);
      else each(v, 'reason', set);
    },
  );
  const opt = (
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    read: (() => number) | undefined,
  ): void => {
    if (read === undefined) return;
    (kind === 'counter' ? counter : gauge)(name, help, [], (set) => {
      set({}, read());
    });
  };
  opt(
    'counter',
    'tsbond_slow_consumer_disconnects_total',
    'Peers disconnected for not reading what they were sent',
    source.slowConsumerDisconnects?.bind(source),
  );
  opt(
    'gauge',
    'tsbond_backlog_routes',
    'Route keys waiting in subscriber backlogs',
    source.backlogRoutes?.bind(source),
  );
  opt(
    'gauge',
    'tsbond_send_queue_bytes',
    'Outbound bytes queued, not yet handed to the kernel',
    source.queuedBytes?.bind(source),
  );
  opt(
    'counter',
    'tsbond_flow_control_pauses_total',
    'Times reading from publishers was paused by flow control',
    source.flowControlPauses?.bind(source),
  );
  opt(
    'counter',
    'tsbond_connections_accepted_total',
    'TCP connections accepted',
    source.connectionsAccepted?.bind(source),
  );
  opt(
    'gauge',
    'tsbond_stale_routes',
    'Received routes kept as stale after a server was lost (graceful restart)',
    source.staleRoutes?.bind(source),
  );
  counter(
    'tsbond_refusals_total',
    role === 'server'
      ? 'Operations refused (REFUSED sent), by kind'
      : 'Operations refused by a server (REFUSED received), by kind',
    ['kind'],
    (set) => {
      each(source.refusals(), 'kind', set);
    },
  );
  if (source.kernel !== undefined) {
    const kernel = source.kernel.bind(source);
    counter(
      'tsbond_kernel_operations_total',
      'Kernel route operations, by operation and result',
      ['op', 'result'],
      (set) => {
        for (const o of kernel().operations) set({ op: o.op, result: o.result }, o.count);
      },
    );
    gauge('tsbond_kernel_routes', 'Routes installed in the kernel', [], (set) => {
      set({}, kernel().routes);
    });
  }
  if (source.onSnapshotDone !== undefined) {
    const h = new prom.Histogram({
      name: 'tsbond_snapshot_duration_seconds',
      help: 'Time from SUBSCRIBE until the snapshot was written out (the backlog drained once)',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    unhooks.push(
      source.onSnapshotDone((seconds) => {
        h.observe(seconds);
      }),
    );
  }
  if (source.onKeepaliveRtt !== undefined) {
    const h = new prom.Histogram({
      name: 'tsbond_keepalive_rtt_seconds',
      help: 'Round trip of KEEPALIVE to a server and its reply',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    unhooks.push(
      source.onKeepaliveRtt((seconds) => {
        h.observe(seconds);
      }),
    );
  }
  prom.collectDefaultMetrics({ register: registry });

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    close: () => {
      for (const u of unhooks) u();
      registry.clear();
    },
  };
}
