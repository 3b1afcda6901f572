/**
 * Benchmark 1, fan-out stress (rustbond's examples/stress_test.rs shape): N clients all subscribed
 * to one VNI; each repeatedly announces a batch of B routes and withdraws them, for D seconds,
 * paced (a target rate in updates/s over all clients) or unpaced (as fast as the sockets take
 * them, honouring write() back-pressure). Every update should reach the N-1 other clients.
 */

import { availableParallelism } from 'node:os';

import { CpuMeter } from './procs.js';
import type { RunningServer, ServerKind } from './servers.js';
import { WorkerPool } from './workers.js';
import type { WorkerStats } from './protocol.js';
import { fmtCount, fmtRate, progress } from './format.js';

export interface FanoutOptions {
  readonly clients: number;
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
}

export interface FanoutSample {
  readonly t: number;
  readonly sentPerSec: number;
  readonly deliveredPerSec: number;
}

export interface FanoutResult {
  readonly server: ServerKind;
  readonly mode: 'paced' | 'unpaced';
  readonly targetRate: number;
  readonly clients: number;
  readonly batch: number;
  readonly workers: number;
  readonly durationS: number;
  readonly sent: number;
  /** sent / elapsed from start to the last delivery (drain included). */
  readonly sentPerSec: number;
  /** Publishing window (D plus stop latency) and elapsed time until the last delivery. */
  readonly publishS: number;
  readonly elapsedS: number;
  readonly expected: number;
  readonly delivered: number;
  readonly deliveredAdds: number;
  readonly deliveredRemoves: number;
  /** delivered / elapsed from start to the last delivery. */
  readonly deliveredPerSec: number;
  /** delivered / expected after draining; exactly 1 when nothing was lost or duplicated. */
  readonly deliveryRatio: number;
  readonly drainS: number;
  readonly lostSessions: number;
  readonly lostReasons: readonly string[];
  readonly perConnMin: number;
  readonly perConnMax: number;
  readonly cpu: {
    /** CPU seconds per wall second (1.0 = one core busy), from /proc/PID/stat. */
    readonly server: number;
    readonly generators: number;
    readonly generatorMaxProcess: number;
    readonly driver: number;
    /** Share of all cores busy (whole machine). */
    readonly machine: number;
    /** CPU used by processes outside this run (other work on the machine), in cores. */
    readonly others: number;
  };
  /** Largest server RSS seen (sampled every second), and for tsbond the largest peer queue. */
  readonly serverPeakRss: number;
  readonly serverPeakQueuedBytes: number | undefined;
  readonly limitedBy: string;
  readonly serverLog: Readonly<Record<string, number>>;
  readonly samples: readonly FanoutSample[];
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Share of the machine busy during the second before the run (other work). */
  readonly background?: number;
  /** With --repeat: this run's number (1-based) of `rounds` alternating unpaced runs. */
  readonly round?: number;
  readonly rounds?: number;
}

const TAG = (s: string, mode: string): string => `fanout ${s} ${mode}`;

export async function runFanout(server: RunningServer, o: FanoutOptions): Promise<FanoutResult> {
  if (o.clients < 2 || o.clients > 255) throw new Error('--clients must be in 2..255');
  const mode = o.rate > 0 ? 'paced' : 'unpaced';
  const tag = TAG(server.kind, mode === 'paced' ? `paced ${fmtRate(o.rate)}/s` : 'unpaced');
  const workers = Math.max(1, Math.min(o.workers, o.clients));
  const pool = new WorkerPool(workers);
  try {
    const target = { host: server.host, port: server.port };
    const byWorker = pool.workers.map((w) =>
      Array.from({ length: o.clients }, (_, i) => i).filter((i) => i % workers === w.index),
    );
    progress(
      tag,
      `connecting ${String(o.clients)} clients from ${String(workers)} worker processes`,
    );
    await pool.all(
      (w) => ({
        op: 'connect',
        target,
        conns: (byWorker[w.index] ?? []).map((i) => ({ id: `c${String(i)}`, subscribe: o.vni })),
        keepalive: o.keepalive,
        keepaliveEveryMs: 2000,
        timeoutMs: 30_000,
      }),
      60_000,
    );
    await pool.all((w) => ({
      op: 'fanoutPrepare',
      clients: byWorker[w.index] ?? [],
      of: o.clients,
      vni: o.vni,
      batch: o.batch,
      cycle: o.cycle,
    }));
    await probeBarrier(pool, byWorker, o.vni);

    const meter = new CpuMeter({
      server: [server.pid],
      generators: pool.pids,
      driver: [process.pid],
    });
    const genMeters = pool.pids.map((pid) => new CpuMeter({ g: [pid] }));
    const ratePerClient = o.rate / o.clients;
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
      const expectedSoFar = (cur.sentAdds + cur.sentRemoves) * (o.clients - 1);
      progress(
        tag,
        `t=${samples.length.toString().padStart(3)}s sent ${fmtRate(sentRate)}/s delivered ${fmtRate(delivRate)}/s ` +
          `(so far ${pct(cur.adds + cur.removes, expectedSoFar)} of expected) lost ${String(cur.lost)}`,
      );
      prev = cur;
      prevT = now;
      if (cur.lost >= o.clients) break;
    }

    const stops = await pool.all({ op: 'fanoutStop' }, 60_000);
    const stopAt = Math.max(...stops.map((r) => r.at ?? 0));
    let s = await pool.stats();
    const sent = s.sentAdds + s.sentRemoves;
    const expectedAdds = s.sentAdds * (o.clients - 1);
    const expectedRemoves = s.sentRemoves * (o.clients - 1);
    const expected = expectedAdds + expectedRemoves;
    progress(
      tag,
      `stopped: ${fmtCount(sent)} sent; draining (expect ${fmtCount(expected)} deliveries)`,
    );

    // Drain: until everything expected arrived, or nothing moved for 3 s, or the drain timeout.
    const drainStart = performance.now();
    let lastChange = drainStart;
    let lastCount = s.adds + s.removes;
    while (s.adds + s.removes < expected) {
      const now = performance.now();
      if (now - lastChange > 3000 || now - drainStart > o.drainTimeoutS * 1000) break;
      await sleep(100);
      s = await pool.stats();
      if (s.adds + s.removes !== lastCount) {
        lastCount = s.adds + s.removes;
        lastChange = performance.now();
      }
    }
    clearInterval(sampler);
    const cpu = meter.read();
    const genShares = genMeters.map((m) => m.read().groups.g?.coreShare ?? 0);
    // A round trip on every live connection: whatever the server queued before is now in, so an
    // excess (duplicates) would show.
    await pool
      .all((w) => ({
        op: 'roundTrip',
        ids: (byWorker[w.index] ?? []).map((i) => `c${String(i)}`),
        timeoutMs: 10_000,
      }))
      .catch(() => undefined);
    s = await pool.stats();
    const drainS = Math.max(0, (s.lastUpdateAt - stopAt) / 1000);
    const delivered = s.adds + s.removes;
    const activeS = Math.max(1e-3, (Math.max(s.lastUpdateAt, stopAt) - t0) / 1000);
    const sendS = Math.max(1e-3, (stopAt - t0) / 1000);
    const problems: string[] = [];
    if (delivered !== expected) {
      problems.push(
        `delivered ${String(delivered)} of ${String(expected)} expected (${pct(delivered, expected)})`,
      );
    }
    if (s.adds !== expectedAdds || s.removes !== expectedRemoves) {
      problems.push(
        `ADDs ${String(s.adds)}/${String(expectedAdds)}, REMOVEs ${String(s.removes)}/${String(expectedRemoves)}`,
      );
    }
    if (s.lost > 0) problems.push(`${String(s.lost)} sessions lost`);
    if (sent === 0) problems.push('nothing was sent');
    if (!server.alive()) problems.push('the server process died');
    const serverLog = await server.logSummary();
    const genMax = Math.max(0, ...genShares);
    // Over the whole run, drain included: the rate the server really absorbed. (Sent counts what
    // was handed to write(), like rustbond's stress test; unpaced, the kernel's socket buffers
    // hold many MB per connection, so a rate over the publishing window alone would flatter.)
    const sentPerSec = sent / activeS;
    const result: FanoutResult = {
      server: server.kind,
      mode,
      targetRate: o.rate,
      clients: o.clients,
      batch: o.batch,
      workers,
      durationS: o.durationS,
      sent,
      sentPerSec,
      publishS: sendS,
      elapsedS: activeS,
      expected,
      delivered,
      deliveredAdds: s.adds,
      deliveredRemoves: s.removes,
      deliveredPerSec: delivered / activeS,
      deliveryRatio: expected === 0 ? 0 : delivered / expected,
      drainS,
      lostSessions: s.lost,
      lostReasons: pool.lostReasons().slice(0, 10),
      perConnMin: s.minPerConn,
      perConnMax: s.maxPerConn,
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
      },
      serverPeakRss: peakRss,
      serverPeakQueuedBytes: peakQueue,
      limitedBy: '',
      serverLog,
      samples,
      ok: problems.length === 0,
      problems,
    };
    const final = { ...result, limitedBy: limitedBy(result) };
    progress(
      tag,
      `done: sent ${fmtRate(sentPerSec)}/s, delivered ${fmtRate(final.deliveredPerSec)}/s, ` +
        `ratio ${pct(delivered, expected)}, lost ${String(s.lost)}, server CPU ${(final.cpu.server * 100).toFixed(0)}%` +
        `, generators ${(final.cpu.generators * 100).toFixed(0)}% (${final.limitedBy})`,
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

function limitedBy(r: FanoutResult): string {
  const c = r.cpu;
  const singleThreaded = r.server === 'tsbond' || r.server === 'forwarder';
  if (r.mode === 'paced' && r.sentPerSec >= 0.95 * r.targetRate && r.deliveryRatio >= 0.999) {
    return 'the target rate (paced; no CPU limit reached)';
  }
  if (singleThreaded && c.server >= 0.9) return 'server CPU (its one core saturated)';
  if (c.generatorMaxProcess >= 0.9) return 'generator CPU (a worker process saturated)';
  if (c.machine >= 0.9) {
    return (
      `machine CPU (all cores busy: server ${(c.server * 100).toFixed(0)}%, ` +
      `generators ${(c.generators * 100).toFixed(0)}%, other processes ${(c.others * 100).toFixed(0)}%)`
    );
  }
  if (r.lostSessions > 0) return 'lost sessions (server reset them)';
  return 'neither side CPU-bound (latency / back-pressure)';
}

function pct(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(2)}%`;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
