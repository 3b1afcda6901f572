/**
 * `npm run soak`: soak and scale runs of issue 14 (not in CI). Loopback only, bounded in time,
 * stops by itself; prints a JSON summary and exits 1 when a check or target failed.
 *
 *   churn (default, 10 minutes): 1,000 MetalBondClients over 20 VNIs in 4 worker processes,
 *     continuous announce/withdraw churn, server killed and restarted every 150 s, every
 *     client's view checked against the expected set at quiet points.
 *   scale: 10,000 concurrent sessions (light protocol clients) on one server, 100 VNIs, 10
 *     routes per client, all subscribed to their VNI; targets: server RSS <= 2 GB, event-loop lag
 *     p99 <= 100 ms, every client re-converged within 60 s after a server restart.
 *
 * The server runs in its own process (test/helpers/server-probe.ts) and reports RSS and its own
 * event-loop lag (perf_hooks.monitorEventLoopDelay) over IPC, sampled every second.
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ServerProcess } from '../test/helpers/server-process.js';
import type { LagSummary, ProbeSample } from '../test/helpers/server-probe.js';
import type { ClientKind } from './protocol.js';
import { Expectation } from './expectation.js';
import { WorkerPool, type Status } from './pool.js';
import { delta, ensureFileLimit, listenCounters } from './system.js';

const USAGE = `usage: soak/run.ts [options]
  --mode churn|scale        default churn
  --minutes M               churn: run length (default 10)
  --clients N               default 1000 (scale: 10000)
  --vnis N                  default 20 (scale: 100)
  --routes N                routes per client (default 10)
  --workers N               client processes (default 4; scale 5)
  --client mb|light         MetalBondClient or light protocol clients (default mb; scale light)
  --keepalive S             default 5
  --churn N                 churn operations (withdraw + announce) per second (default 20)
  --check-every S           quiet-point view checks (default 60)
  --restart-every S         server kill + restart period (default 150)
  --hold S                  scale: steady phases (default 60)
  --converge-timeout S      give-up time of a convergence wait (default 180)
  --out FILE                also write the summary there
`;

interface Options {
  mode: 'churn' | 'scale';
  minutes: number;
  clients: number;
  vnis: number;
  routes: number;
  workers: number;
  client: ClientKind;
  keepalive: number;
  churn: number;
  checkEvery: number;
  restartEvery: number;
  hold: number;
  convergeTimeout: number;
  out: string | undefined;
}

function options(): Options {
  const { values: v } = parseArgs({
    options: {
      mode: { type: 'string', default: 'churn' },
      minutes: { type: 'string' },
      clients: { type: 'string' },
      vnis: { type: 'string' },
      routes: { type: 'string' },
      workers: { type: 'string' },
      client: { type: 'string' },
      keepalive: { type: 'string' },
      churn: { type: 'string' },
      'check-every': { type: 'string' },
      'restart-every': { type: 'string' },
      hold: { type: 'string' },
      'converge-timeout': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (v.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const scale = v.mode === 'scale';
  if (v.mode !== 'churn' && !scale) usage(`unknown mode '${v.mode}'`);
  const num = (x: string | undefined, d: number, name: string): number => {
    if (x === undefined) return d;
    const n = Number(x);
    if (!Number.isFinite(n) || n < 0) usage(`--${name} must be a number >= 0`);
    return n;
  };
  const kind = v.client ?? (scale ? 'light' : 'mb');
  if (kind !== 'mb' && kind !== 'light') usage(`--client must be mb or light`);
  const client: ClientKind = kind;
  return {
    mode: scale ? 'scale' : 'churn',
    minutes: num(v.minutes, 10, 'minutes'),
    clients: Math.floor(num(v.clients, scale ? 10_000 : 1000, 'clients')),
    vnis: Math.max(1, Math.floor(num(v.vnis, scale ? 100 : 20, 'vnis'))),
    routes: Math.min(64, Math.floor(num(v.routes, 10, 'routes'))),
    workers: Math.max(1, Math.floor(num(v.workers, scale ? 5 : 4, 'workers'))),
    client,
    keepalive: Math.max(1, num(v.keepalive, 5, 'keepalive')),
    churn: num(v.churn, scale ? 0 : 20, 'churn'),
    checkEvery: num(v['check-every'], 60, 'check-every'),
    restartEvery: num(v['restart-every'], 150, 'restart-every'),
    hold: num(v.hold, 60, 'hold'),
    convergeTimeout: num(v['converge-timeout'], 180, 'converge-timeout'),
    out: v.out,
  };
}

function usage(msg: string): never {
  process.stderr.write(`soak: ${msg}\n${USAGE}`);
  process.exit(2);
}

function log(msg: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---- the run ----

interface Convergence {
  readonly ms: number;
  readonly ok: boolean;
  readonly established: number;
  readonly mismatched: number;
  readonly examples: readonly string[];
}

async function main(): Promise<void> {
  const o = options();
  ensureFileLimit(o.clients + 4096, log, usage);
  const t0 = Date.now();
  const hardDeadline =
    t0 +
    (o.mode === 'churn' ? o.minutes * 60 + 600 : 4 * o.hold + 3 * o.convergeTimeout + 600) * 1000;
  const failures: string[] = [];
  const server = new ServerProcess({ listen: '[::1]:0', keepalive: o.keepalive });
  await server.start();
  const addr = `[::1]:${String(server.port)}`;
  log(
    `${o.mode}: server pid ${String(server.pid)} on ${addr}; ${String(o.clients)} ${o.client} clients, ${String(o.vnis)} VNIs, ${String(o.routes)} routes each, ${String(o.workers)} workers`,
  );

  // Sampling throughout.
  const samples: ProbeSample[] = [];
  const workerRss: number[] = [];
  let phase = 'start';
  const phaseOf: string[] = [];
  const sampler = setInterval(() => {
    void server.sample(2000).then((s) => {
      if (s === undefined) return;
      samples.push(s);
      phaseOf.push(phase);
    });
    workerRss.push(pool.rssBytes());
  }, 1000);

  const exp = new Expectation(o.clients, o.vnis, o.routes);
  const pool = new WorkerPool(o.workers);
  const status = async (): Promise<Status> => pool.status();
  const drain = async (): Promise<void> => {
    await pool.flush();
  };

  const converge = async (timeoutS: number): Promise<Convergence> => {
    const start = Date.now();
    for (;;) {
      await drain();
      const s = await status();
      let mismatched = 0;
      const examples: string[] = [];
      for (const [i, count, hash] of s.digests) {
        const [c, h] = exp.expected(i);
        if (c !== count || h !== hash) {
          mismatched++;
          if (examples.length < 5)
            examples.push(
              `client ${String(i)} (VNI ${String(exp.vniOf[i])}): ${String(count)} routes, expected ${String(c)}${c === count ? ' (different set)' : ''}`,
            );
        }
      }
      const done = mismatched === 0 && s.established === o.clients;
      const ms = Date.now() - start;
      if (done || ms > timeoutS * 1000 || Date.now() > hardDeadline) {
        return { ms, ok: done, established: s.established, mismatched, examples };
      }
      await new Promise((r) => setTimeout(r, o.clients > 2000 ? 1000 : 250));
    }
  };

  // Start the clients, spread over the workers (client i -> worker i % W).
  phase = 'initial-sync';
  server.mark();
  const kernelStart = listenCounters();
  await pool.spawn(
    exp.vniOf.map((v, i) => [i, v] as const),
    addr,
    o.client,
    o.keepalive,
    o.routes,
  );
  const startup = await converge(o.convergeTimeout);
  const initialLag = (await server.sample())?.lagSinceMark;
  const initialKernel = delta(kernelStart, listenCounters());
  log(
    `initial sync: ${startup.ok ? 'converged' : 'NOT converged'} in ${String(startup.ms)} ms (${String(startup.established)} established)`,
  );
  if (!startup.ok) failures.push(`initial sync did not converge: ${JSON.stringify(startup)}`);

  const quietChecks: (Convergence & { at: number })[] = [];
  const restarts: (Convergence & {
    at: number;
    dropsDuring: number;
    lag: LagSummary | undefined;
    connectionsAccepted: number | undefined;
    /** Kernel listen-queue counters over the restart (SYN and accept queue overflows). */
    kernel: Record<string, number>;
  })[] = [];
  let churnOps = 0;
  let droppedOutsideRestarts = 0;

  const restart = async (): Promise<void> => {
    phase = 'restart';
    const before = (await status()).dropsTotal;
    const kernel0 = listenCounters();
    log('killing the server (SIGKILL)');
    await server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await server.start(server.port);
    server.mark();
    const at = Math.round((Date.now() - t0) / 1000);
    const c = await converge(o.convergeTimeout);
    const s = await server.sample();
    const after = (await status()).dropsTotal;
    restarts.push({
      ...c,
      at,
      dropsDuring: after - before,
      lag: s?.lagSinceMark,
      connectionsAccepted: s?.counters.connectionsAccepted,
      kernel: delta(kernel0, listenCounters()),
    });
    log(
      `restart at ${String(at)} s: ${c.ok ? 're-converged' : 'NOT re-converged'} in ${String(c.ms)} ms`,
    );
    if (!c.ok)
      failures.push(`no re-convergence after the restart at ${String(at)} s: ${JSON.stringify(c)}`);
    phase = 'steady';
  };

  const quiet = async (): Promise<void> => {
    const c = await converge(o.convergeTimeout);
    const at = Math.round((Date.now() - t0) / 1000);
    quietChecks.push({ ...c, at });
    if (!c.ok)
      failures.push(`views not exact at the quiet point at ${String(at)} s: ${JSON.stringify(c)}`);
  };

  const dropsNow = async (): Promise<number> => (await status()).dropsTotal;
  let dropsMark = await dropsNow();
  let steadyLag: LagSummary | undefined;

  if (o.mode === 'churn') {
    phase = 'steady';
    const end = t0 + o.minutes * 60_000;
    let nextCheck = Date.now() + o.checkEvery * 1000;
    let nextRestart = Date.now() + o.restartEvery * 1000;
    const tickMs = 100;
    let carry = 0;
    while (Date.now() < end && Date.now() < hardDeadline) {
      // Churn for one tick: a random client withdraws its oldest route and announces a new one.
      carry += (o.churn * tickMs) / 1000;
      const withdraws: [number, number][] = [];
      const announces: [number, number][] = [];
      while (carry >= 1) {
        carry--;
        const i = Math.floor(Math.random() * o.clients);
        const w = exp.withdrawOldest(i);
        if (w !== undefined) withdraws.push([i, w]);
        announces.push([i, exp.announce(i)]);
        churnOps++;
      }
      pool.withdraw(withdraws);
      pool.announce(announces);
      await new Promise((r) => setTimeout(r, tickMs));
      const now = Date.now();
      if (now >= nextRestart && now + 30_000 < end) {
        droppedOutsideRestarts += (await dropsNow()) - dropsMark;
        await restart();
        dropsMark = await dropsNow();
        nextRestart = Date.now() + o.restartEvery * 1000;
        nextCheck = Date.now() + o.checkEvery * 1000;
      } else if (now >= nextCheck) {
        await quiet();
        nextCheck = Date.now() + o.checkEvery * 1000;
      }
    }
    await quiet();
    droppedOutsideRestarts += (await dropsNow()) - dropsMark;
  } else {
    // Scale: hold steady, restart once, hold again.
    phase = 'steady';
    server.mark();
    await new Promise((r) => setTimeout(r, o.hold * 1000));
    steadyLag = (await server.sample())?.lagSinceMark;
    await quiet();
    droppedOutsideRestarts += (await dropsNow()) - dropsMark;
    await restart();
    dropsMark = await dropsNow();
    phase = 'steady-after-restart';
    await new Promise((r) => setTimeout(r, Math.min(30, o.hold) * 1000));
    await quiet();
    droppedOutsideRestarts += (await dropsNow()) - dropsMark;
  }
  if (droppedOutsideRestarts > 0)
    failures.push(`${String(droppedOutsideRestarts)} sessions dropped outside server restarts`);

  clearInterval(sampler);
  const last = await server.sample();
  const st = await status();
  await pool.stop();
  await server.stop();
  for (const c of server.crashes) failures.push(`server crashed: ${c}`);
  for (const e of server.unexpectedExits) failures.push(`server exited: ${e}`);
  if (st.operationErrors > 0)
    failures.push(
      `${String(st.operationErrors)} client operations failed: ${st.errorSamples.join('; ')}`,
    );

  const mb = (b: number): number => Math.round(b / 104857.6) / 10;
  const rssMax = Math.max(0, ...samples.map((s) => s.rssBytes));
  const windowP99 = samples.map((s) => s.lagP99Ms).sort((a, b) => a - b);
  const pct = (xs: number[], p: number): number =>
    xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;
  const steadyWindows = samples
    .filter((_, k) => (phaseOf[k] ?? '').startsWith('steady'))
    .map((s) => s.lagP99Ms)
    .sort((a, b) => a - b);
  const scale =
    o.mode === 'scale'
      ? {
          serverRssMaxMB: mb(rssMax),
          rssTargetMet: rssMax <= 2 * 1024 ** 3,
          lagP99WholeRunMs: last?.lagTotal.p99Ms,
          lagTargetMet: (last?.lagTotal.p99Ms ?? Infinity) <= 100,
          reconvergeMs: restarts[0]?.ms,
          reconvergeTargetMet:
            restarts[0] !== undefined && restarts[0].ok && restarts[0].ms <= 60_000,
          steadyLag,
        }
      : undefined;
  if (scale !== undefined) {
    if (!scale.rssTargetMet)
      failures.push(`server RSS ${String(scale.serverRssMaxMB)} MB above 2 GB`);
    if (!scale.lagTargetMet)
      failures.push(`server event-loop lag p99 ${String(scale.lagP99WholeRunMs)} ms above 100 ms`);
    if (!scale.reconvergeTargetMet)
      failures.push(
        `re-convergence after the restart took ${String(scale.reconvergeMs)} ms (target 60 s)`,
      );
  }
  const summary = {
    ok: failures.length === 0,
    mode: o.mode,
    options: o,
    seconds: Math.round((Date.now() - t0) / 1000),
    failures,
    startup,
    initialSyncLag: initialLag,
    initialSyncKernel: initialKernel,
    quietChecks,
    restarts,
    churnOps,
    droppedOutsideRestarts,
    server: {
      samples: samples.length,
      rssMaxMB: mb(rssMax),
      rssEndMB: mb(last?.rssBytes ?? 0),
      routesEnd: last?.routes,
      peersEnd: last?.peers,
      lagWholeRun: last?.lagTotal,
      lagWindowP99: {
        median: pct(windowP99, 50),
        p99: pct(windowP99, 99),
        max: windowP99[windowP99.length - 1] ?? 0,
      },
      lagWindowP99Steady: {
        median: pct(steadyWindows, 50),
        p99: pct(steadyWindows, 99),
        max: steadyWindows[steadyWindows.length - 1] ?? 0,
      },
      counters: last?.counters,
      crashes: server.crashes.length,
      restarts: server.starts - 1,
    },
    workers: { rssMaxMB: mb(Math.max(0, ...workerRss)), lagP99MaxMs: st.lagP99Ms },
    scale,
  };
  const text = JSON.stringify(summary, null, 2);
  process.stdout.write(`${text}\n`);
  if (o.out !== undefined) writeFileSync(o.out, `${text}\n`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

await main();
