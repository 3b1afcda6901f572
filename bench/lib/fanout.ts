/**
 * Benchmark 1, fan-out stress (rustbond's examples/stress_test.rs shape): N clients all subscribed
 * to one VNI; each publisher repeatedly announces a batch of B routes and withdraws them, for D
 * seconds, paced (a target rate in updates/s over all publishers) or unpaced (as fast as the
 * sockets take them, honouring write() back-pressure). The fleet (lib/fleet.ts) says what each
 * client announces in its HELLO and how its reception is checked: exact counts for receivers the
 * server writes to at full speed, an exact view for receivers it paces.
 */

import { availableParallelism } from 'node:os';

import {
  expectedOf,
  groupResult,
  limitedBy,
  pct,
  type FanoutResult,
  type FanoutSample,
} from './fanout-result.js';
import { groupOfClient, fleetClients, type Fleet, type FleetName } from './fleet.js';
import { fmtCount, fmtRate, fmtSeconds, progress } from './format.js';
import { featuresText } from './hello.js';
import { CpuMeter } from './procs.js';
import type { GroupStats, WorkerStats } from './protocol.js';
import type { RunningServer } from './servers.js';
import { WorkerPool, sumGroups } from './workers.js';

export interface FanoutOptions {
  readonly fleet: Fleet;
  readonly batch: number;
  readonly durationS: number;
  /** Target updates/s in, over all clients; 0 = unpaced. */
  readonly rate: number;
  readonly workers: number;
  readonly cycle: number;
  readonly vni: number;
  readonly keepalive: number;
  /** Longest wait for the last deliveries after publishing stopped. */
  readonly drainTimeoutS: number;
  /**
   * View receivers (paced by the server): after publishing stopped, the longest wait until every
   * view is empty and nothing arrived for a while (a paced peer drains at 512 KiB/s).
   */
  readonly viewDrainTimeoutS: number;
  /** Updates per publisher before it stops by itself (0 = until the end; smoke bounds the volume). */
  readonly limitPerClient: number;
  /** Keep the exact view of every receiver (smoke: cheap at its sizes), not only paced ones. */
  readonly viewAll: boolean;
  /**
   * Connect over mutual TLS (lib/tls-certs.ts): to `port` (default the server's port) with the
   * CA file and, client i, the certificate `clients[i % clients.length]`.
   */
  readonly tls?: TlsFanout | undefined;
}

export interface TlsFanout {
  /** The server's TLS listener (default: its main port). */
  readonly port?: number;
  /** PEM files. */
  readonly ca: string;
  readonly clients: readonly { readonly cert: string; readonly key: string }[];
}

const TAG = (s: string, fleet: FleetName, mode: string): string =>
  `fanout ${s}${fleet === 'tsbond' ? '' : ` [${fleet}]`} ${mode}`;

/** Routes left, duplicates: the state of the view receivers. */
function viewsClean(g: GroupStats): boolean {
  return g.viewSize === 0 && g.viewAddPresent === 0 && g.viewRemoveAbsent === 0;
}

export async function runFanout(server: RunningServer, o: FanoutOptions): Promise<FanoutResult> {
  const f = o.fleet;
  const clients = fleetClients(f);
  const groupOf = groupOfClient(f);
  const publishers = groupOf.map((g, i) => (g.publish ? i : -1)).filter((i) => i >= 0);
  if (clients < 2 || clients > 255) throw new Error('--clients must be in 2..255');
  if (publishers[0] !== 0 || publishers.length !== (publishers.at(-1) ?? -1) + 1) {
    throw new Error('fleet: publishers must be clients 0..P-1');
  }
  const countGroups = f.groups.filter((g) => g.track === 'count').map((g) => g.name);
  const viewGroups = f.groups.filter((g) => g.track === 'view').map((g) => g.name);
  const mode = o.rate > 0 ? 'paced' : 'unpaced';
  const tag = TAG(
    `${server.kind}${o.tls === undefined ? '' : ' over TLS'}`,
    f.name,
    mode === 'paced' ? `paced ${fmtRate(o.rate)}/s` : 'unpaced',
  );
  const workers = Math.max(1, Math.min(o.workers, clients));
  const pool = new WorkerPool(workers);
  try {
    const target = {
      host: server.host,
      port: o.tls?.port ?? server.port,
      ...(o.tls === undefined ? {} : { tls: { ca: o.tls.ca } }),
    };
    const tlsClients = o.tls?.clients ?? [];
    const byWorker = pool.workers.map((w) =>
      Array.from({ length: clients }, (_, i) => i).filter((i) => i % workers === w.index),
    );
    progress(tag, `connecting ${f.label} from ${String(workers)} worker processes`);
    await pool.all(
      (w) => ({
        op: 'connect',
        target,
        conns: (byWorker[w.index] ?? []).map((i) => {
          const g = groupOf[i];
          return {
            id: `c${String(i)}`,
            subscribe: o.vni,
            features: g?.features,
            group: g?.name,
            view: g?.track === 'view' || o.viewAll,
            tls: tlsClients.length === 0 ? undefined : tlsClients[i % tlsClients.length],
          };
        }),
        keepalive: o.keepalive,
        keepaliveEveryMs: 2000,
        timeoutMs: 30_000,
      }),
      60_000,
    );
    await pool.all((w) => ({
      op: 'fanoutPrepare',
      clients: (byWorker[w.index] ?? []).filter((i) => groupOf[i]?.publish === true),
      of: publishers.length,
      vni: o.vni,
      batch: o.batch,
      cycle: o.cycle,
      limit: o.limitPerClient,
    }));
    await probeBarrier(pool, byWorker, o.vni);

    const meter = new CpuMeter({
      server: [server.pid],
      generators: pool.pids,
      driver: [process.pid],
    });
    const genMeters = pool.pids.map((pid) => new CpuMeter({ g: [pid] }));
    const ratePerClient = o.rate / publishers.length;
    const starts = await pool.all({ op: 'fanoutStart', ratePerClient });
    const t0 = Math.min(...starts.map((r) => r.at ?? Date.now()));
    progress(tag, `publishing for ${String(o.durationS)} s`);

    const samples: FanoutSample[] = [];
    let peakRss = 0;
    let peakQueue: number | undefined;
    const sampler = setInterval(() => {
      server.sample().then(
        (x) => {
          peakRss = Math.max(peakRss, x.rss);
          if (x.maxQueuedBytes !== undefined) {
            peakQueue = Math.max(peakQueue ?? 0, x.maxQueuedBytes);
          }
        },
        () => undefined,
      );
    }, 1000);
    let prev: WorkerStats = pool.latest();
    let prevT = performance.now();
    const endAt = performance.now() + o.durationS * 1000;
    while (performance.now() < endAt) {
      await sleep(Math.min(1000, Math.max(0, endAt - performance.now())));
      const now = performance.now();
      const cur = pool.latest();
      const dt = (now - prevT) / 1000;
      const sentRate = (cur.sentAdds + cur.sentRemoves - prev.sentAdds - prev.sentRemoves) / dt;
      const delivRate = (cur.adds + cur.removes - prev.adds - prev.removes) / dt;
      samples.push({ t: samples.length + 1, sentPerSec: sentRate, deliveredPerSec: delivRate });
      progress(
        tag,
        `t=${samples.length.toString().padStart(3)}s sent ${fmtRate(sentRate)}/s delivered ${fmtRate(delivRate)}/s ` +
          `lost ${String(cur.lost)}`,
      );
      prev = cur;
      prevT = now;
      if (cur.lost >= clients) break;
    }

    const stops = await pool.all({ op: 'fanoutStop' }, 60_000);
    const stopAt = Math.max(...stops.map((r) => r.at ?? 0));
    let s = await pool.stats();
    const sent = s.sentAdds + s.sentRemoves;
    const expected0 = (g: GroupStats): { adds: number; removes: number } =>
      expectedOf(g, s.sentAdds, s.sentRemoves);
    const pick = (names: readonly string[]): GroupStats =>
      sumGroups(names.map((n) => s.groups[n]).filter((g): g is GroupStats => g !== undefined));
    const exactNames = countGroups.length > 0 ? countGroups : viewGroups;
    const exactExpected = (): number => {
      const e = expected0(pick(exactNames));
      return e.adds + e.removes;
    };
    progress(
      tag,
      `stopped: ${fmtCount(sent)} sent; draining (expect ${fmtCount(exactExpected())} deliveries` +
        `${countGroups.length > 0 ? ' to the exactly counted receivers' : ''})`,
    );

    // Drain the exact receivers: until everything expected arrived, or nothing moved for 3 s, or
    // the drain timeout. Then a quiet second: an excess (duplicates) would show.
    const drainStart = performance.now();
    let lastChange = drainStart;
    let lastCount = -1;
    while (countGroups.length > 0) {
      const g = pick(countGroups);
      const n = g.adds + g.removes;
      const now = performance.now();
      if (n !== lastCount) {
        lastCount = n;
        lastChange = now;
      }
      if (n >= exactExpected() && now - lastChange >= 1000) break;
      if (now - lastChange > 3000 || now - drainStart > o.drainTimeoutS * 1000) break;
      await sleep(100);
      s = await pool.stats();
    }
    // View receivers (paced by the server) drain far slower: until every view is empty and
    // nothing arrived for 3 s; bounded, and given up when nothing arrives for 30 s.
    let viewDrained = true;
    if (viewGroups.length > 0) {
      const bound = performance.now() + o.viewDrainTimeoutS * 1000;
      let lastView = -1;
      let lastViewChange = performance.now();
      let lastReport = performance.now();
      for (;;) {
        s = await pool.stats();
        const g = pick(viewGroups);
        const now = performance.now();
        const n = g.adds + g.removes;
        if (n !== lastView) {
          lastView = n;
          lastViewChange = now;
        }
        if (viewsClean(g) && now - lastViewChange >= 3000) break;
        if (now > bound || now - lastViewChange > 30_000) {
          viewDrained = false;
          break;
        }
        if (now - lastReport > 5000) {
          lastReport = now;
          progress(
            tag,
            `waiting for the paced receivers: ${fmtCount(g.viewSize)} routes still in their views`,
          );
        }
        await sleep(250);
      }
    }
    clearInterval(sampler);
    const cpu = meter.read();
    const genShares = genMeters.map((m) => m.read().groups.g?.coreShare ?? 0);
    await pool
      .all((w) => ({
        op: 'roundTrip',
        ids: (byWorker[w.index] ?? []).map((i) => `c${String(i)}`),
        timeoutMs: 10_000,
      }))
      .catch(() => undefined);
    s = await pool.stats();
    const routesLeft = await server.routeCount().catch(() => undefined);

    const groups = f.groups.map((spec) =>
      groupResult(spec, s.groups[spec.name] ?? sumGroups([]), {
        sentAdds: s.sentAdds,
        sentRemoves: s.sentRemoves,
        t0,
        stopAt,
        viewKept: spec.track === 'view' || o.viewAll,
        viewDrained,
        viewDrainTimeoutS: o.viewDrainTimeoutS,
      }),
    );

    const ex = pick(exactNames);
    const exE = expected0(ex);
    const delivered = ex.adds + ex.removes;
    const expected = exE.adds + exE.removes;
    const activeS = Math.max(1e-3, (Math.max(ex.lastUpdateAt, stopAt) - t0) / 1000);
    const sendS = Math.max(1e-3, (stopAt - t0) / 1000);
    const problems: string[] = [];
    for (const g of groups) {
      if (!g.ok) problems.push(`${g.name}: ${g.problems.join(', ')}`);
    }
    if (s.lost > 0 && !problems.some((p) => p.includes('lost'))) {
      problems.push(`${String(s.lost)} sessions lost`);
    }
    if (sent === 0) problems.push('nothing was sent');
    if (routesLeft !== undefined && routesLeft !== 0) {
      problems.push(
        `the server still holds ${String(routesLeft)} routes (publishers withdrew all)`,
      );
    }
    if (!server.alive()) problems.push('the server process died');
    const serverLog = await server.logSummary();
    const genMax = Math.max(0, ...genShares);
    // Over the whole run, drain included: the rate the server really absorbed. (Sent counts what
    // was handed to write(), like rustbond's stress test; unpaced, the kernel's socket buffers
    // hold many MB per connection, so a rate over the publishing window alone would flatter.)
    const sentPerSec = sent / activeS;
    const result: FanoutResult = {
      server: server.kind,
      fleet: f.name,
      fleetLabel: f.label,
      serverFlags: server.flags,
      groups,
      mode,
      targetRate: o.rate,
      clients,
      publishers: publishers.length,
      batch: o.batch,
      workers,
      durationS: o.durationS,
      sent,
      sentPerSec,
      publishS: sendS,
      elapsedS: activeS,
      expected,
      delivered,
      deliveredAdds: ex.adds,
      deliveredRemoves: ex.removes,
      deliveredPerSec: delivered / activeS,
      deliveryRatio: expected === 0 ? 0 : delivered / expected,
      drainS: Math.max(0, (ex.lastUpdateAt - stopAt) / 1000),
      lostSessions: s.lost,
      lostReasons: pool.lostReasons().slice(0, 10),
      perConnMin: ex.minPerConn,
      perConnMax: ex.maxPerConn,
      cpu: {
        server: cpu.groups.server?.coreShare ?? 0,
        generators: cpu.groups.generators?.coreShare ?? 0,
        generatorMaxProcess: genMax,
        driver: cpu.groups.driver?.coreShare ?? 0,
        machine: cpu.machineBusyShare,
        others: Math.max(
          0,
          cpu.machineBusyShare * availableParallelism() -
            (cpu.groups.server?.coreShare ?? 0) -
            (cpu.groups.generators?.coreShare ?? 0) -
            (cpu.groups.driver?.coreShare ?? 0),
        ),
        serverSeconds: cpu.groups.server?.cpuSeconds ?? 0,
        wallSeconds: cpu.wallSeconds,
      },
      transport: o.tls === undefined ? 'tcp' : 'tls',
      serverPeakRss: peakRss,
      serverPeakQueuedBytes: peakQueue,
      limitedBy: '',
      serverLog,
      samples,
      ok: problems.length === 0,
      problems,
    };
    const final = { ...result, limitedBy: limitedBy(result) };
    const groupText = groups
      .filter(() => groups.length > 1)
      .map(
        (g) =>
          `${g.name} ${fmtRate(g.deliveredPerSec)}/s${g.track === 'view' ? ` (drained ${fmtSeconds(g.drainS)} after the stop)` : ''}`,
      )
      .join(', ');
    progress(
      tag,
      `done: sent ${fmtRate(sentPerSec)}/s, delivered ${fmtRate(final.deliveredPerSec)}/s, ` +
        `ratio ${pct(delivered, expected)}, lost ${String(s.lost)}, server CPU ${(final.cpu.server * 100).toFixed(0)}%` +
        `, generators ${(final.cpu.generators * 100).toFixed(0)}% (${final.limitedBy})` +
        (groupText === '' ? '' : `; ${groupText}`) +
        `; server HELLO features ${Object.keys(s.serverFeatures)
          .map((k) => (k === 'none' ? 'absent' : featuresText(Number(k))))
          .join(', ')}` +
        (final.ok ? '' : `; PROBLEMS: ${problems.join('; ')}`),
    );
    return final;
  } finally {
    await pool.stop();
  }
}

/**
 * Client 0 announces a probe route and every other client waits for it, then for its withdrawal:
 * proves every subscription is active before the measurement starts (the Go server handles
 * SUBSCRIBE and KEEPALIVE in a random order, so a KEEPALIVE round trip alone is not enough).
 */
async function probeBarrier(pool: WorkerPool, byWorker: number[][], vni: number): Promise<void> {
  const others = (w: number): string[] =>
    (byWorker[w] ?? []).filter((i) => i !== 0).map((i) => `c${String(i)}`);
  const w0 = pool.at(0);
  for (const remove of [false, true]) {
    await w0.request({ op: 'probe', id: 'c0', vni, remove });
    await pool.all(
      (w) => ({
        op: 'wait',
        ids: others(w.index),
        adds: 1,
        removes: remove ? 1 : 0,
        timeoutMs: 20_000,
      }),
      30_000,
    );
  }
  await pool.all({ op: 'reset' });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
