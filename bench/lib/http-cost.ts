/**
 * The cost of looking into a tsbond server (issue 13): server CPU per delivered update under
 * fan-out with the status page open and /metrics scraped every second, against the same run
 * without HTTP. Target: within 10%.
 *
 * Both runs are `tsbond server` itself (bench/tsbond-server-probe.ts) with the run's flags (the
 * CLI's defaults unless --server-flags), the HTTP run with `--http [::1]:0 --metrics [::1]:0`
 * added. The load is the default fan-out fleet (every client announces REASSEMBLY, as default
 * tsbond peers do, and is counted exactly) paced at a fixed rate (--http-rate), so that both runs
 * do the same work; the page and the scraper (lib/page-observer.ts) run in the driver process.
 * CPU is the server process's user + system time from the start of publishing to the end of
 * the drain, per update delivered in that time. Runs alternate (without, with; then with,
 * without, ...) and the medians are compared.
 *
 * Correctness (asserted by the smoke run, which makes one tiny pair): every update delivered
 * exactly in both runs; every page request and scrape answered 200 and well formed; events
 * arriving; the page seeing every session; after the run the metrics agree with the traffic
 * (updates received = updates sent by the generator + the probe's 2, updates sent = updates
 * delivered + the probe's 2 per receiver, no route left).
 */

import type { ExtraContext, ExtraFigure, ExtraModule, ExtraResult } from './extra.js';
import { intArg } from './extra.js';
import { runFanout } from './fanout.js';
import type { FanoutResult } from './fanout-result.js';
import { fmtRate, mdTable, textTable } from './format.js';
import { PageObserver, metricSum, type ObserverStats } from './page-observer.js';
import { medianOf as median } from './results.js';
import { HOST } from './servers.js';

export const HTTP_FLAGS = ['--http', `[${HOST}]:0`, '--metrics', `[${HOST}]:0`] as const;
const TARGET = 0.1;

export interface HttpCostRun {
  readonly http: boolean;
  readonly round: number;
  readonly sent: number;
  readonly delivered: number;
  readonly deliveryRatio: number;
  readonly deliveredPerSec: number;
  /** Server CPU seconds over `wallS` (publishing start to drain end). */
  readonly serverCpuS: number;
  readonly wallS: number;
  /** Server CPU microseconds per delivered update. */
  readonly cpuUsPerUpdate: number;
  /** Machine busy share just before the run. */
  readonly background: number;
  readonly observer?: ObserverStats;
  /** Counters of the final scrape (HTTP runs). */
  readonly metrics?: {
    readonly received: number | undefined;
    readonly sent: number | undefined;
    readonly routes: number | undefined;
  };
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export interface HttpCostData {
  /** Smoke sizes: correctness only, the cost is not judged. */
  readonly smoke: boolean;
  readonly clients: number;
  readonly rate: number;
  readonly durationS: number;
  readonly rounds: number;
  readonly scrapeMs: number;
  readonly serverFlags: readonly string[];
  readonly runs: readonly HttpCostRun[];
  readonly medianWithout: number;
  readonly medianWith: number;
  /**
   * The judged figure: the median over rounds of (with / without - 1), each round's two runs being
   * adjacent in time. Paired, because this machine (a VM) drifts: the same run costs 5 CPU s in
   * one minute and 9 in a later one, which swamps a comparison of medians taken across rounds.
   */
  readonly overhead: number;
  /** medianWith / medianWithout - 1 (unpaired; shown beside, sensitive to drift). */
  readonly pooledOverhead?: number;
  /** Per round: with / without - 1. */
  readonly roundOverheads: readonly number[];
  /**
   * What HTTP itself costs, in server CPU ms per wall second: the median over rounds of (with -
   * without), paired like `overhead` (independent of the load).
   */
  readonly httpCpuMsPerS: number;
  readonly withinTarget: boolean;
}

const pctText = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** Consistency of the final scrape with the traffic the generator saw. */
function metricProblems(text: string, r: FanoutResult): string[] {
  const problems: string[] = [];
  const received = metricSum(text, 'tsbond_route_updates_received_total');
  const sent = metricSum(text, 'tsbond_route_updates_sent_total');
  const routes = metricSum(text, 'tsbond_routes');
  // The probe barrier: one ADD and one REMOVE by client 0, delivered to every other client.
  const wantReceived = r.sent + 2;
  const wantSent = r.delivered + 2 * (r.clients - 1);
  if (received !== wantReceived) {
    problems.push(
      `metrics: ${String(received)} route updates received, the generator sent ${String(wantReceived)}`,
    );
  }
  if (sent !== wantSent) {
    problems.push(
      `metrics: ${String(sent)} route updates sent, the generator received ${String(wantSent)}`,
    );
  }
  if (routes !== 0) problems.push(`metrics: tsbond_routes ${String(routes)} after the run, not 0`);
  return problems;
}

async function oneRun(
  ctx: ExtraContext,
  http: boolean,
  round: number,
  p: { rate: number; durationS: number; scrapeMs: number },
): Promise<HttpCostRun> {
  const background = await ctx.background(`http-cost ${http ? 'with' : 'without'} HTTP`);
  const server = await ctx.startServer('tsbond', [...ctx.serverFlags, ...(http ? HTTP_FLAGS : [])]);
  let observer: PageObserver | undefined;
  try {
    const problems: string[] = [];
    if (http) {
      if (server.httpPort === undefined || server.metricsPort === undefined) {
        throw new Error('the server probe did not report the ports of --http and --metrics');
      }
      observer = new PageObserver(HOST, server.httpPort, server.metricsPort, p.scrapeMs);
      await observer.start();
    }
    const fo = { ...ctx.fanoutOptions('tsbond', p.rate), durationS: p.durationS };
    const r = await runFanout(server, fo);
    let metrics: HttpCostRun['metrics'];
    if (observer !== undefined) {
      const text = await observer.scrape();
      if (text !== undefined) {
        metrics = {
          received: metricSum(text, 'tsbond_route_updates_received_total'),
          sent: metricSum(text, 'tsbond_route_updates_sent_total'),
          routes: metricSum(text, 'tsbond_routes'),
        };
        problems.push(...metricProblems(text, r));
      }
    }
    const st = observer?.stats();
    if (st !== undefined) {
      problems.push(...st.errors.map((e) => `page: ${e}`));
      if (st.sampleEvents === 0) problems.push('page: no sample event');
      if (st.changeEvents === 0) problems.push('page: no changes event');
      if (st.maxSessions !== r.clients) {
        problems.push(
          `page: api/sessions showed at most ${String(st.maxSessions)} sessions, not ${String(r.clients)}`,
        );
      }
      if (st.scrapes === 0) problems.push('no /metrics scrape');
      else if (st.maxEstablished !== r.clients) {
        problems.push(
          `metrics: at most ${String(st.maxEstablished)} sessions ESTABLISHED scraped, not ${String(r.clients)}`,
        );
      }
    }
    if (!r.ok) problems.push(...r.problems);
    else if (r.deliveryRatio !== 1) {
      problems.push(`delivery ${(r.deliveryRatio * 100).toFixed(2)}%, not 100%`);
    }
    const serverCpuS = r.cpu.serverSeconds ?? 0;
    const cpuUsPerUpdate = r.delivered > 0 ? (serverCpuS / r.delivered) * 1e6 : Number.NaN;
    ctx.progress(
      `round ${String(round)} ${http ? 'with page + /metrics' : 'without HTTP'}: ` +
        `${fmtRate(r.deliveredPerSec)}/s delivered, server ${serverCpuS.toFixed(2)} CPU s, ` +
        `${cpuUsPerUpdate.toFixed(4)} us/update` +
        (st === undefined
          ? ''
          : `, ${String(st.requests)} requests (${String(st.scrapes)} scrapes), ` +
            `${String(st.sampleEvents)} sample and ${String(st.changeEvents)} changes events`) +
        (problems.length === 0 ? '' : `; PROBLEMS: ${problems.join('; ')}`),
    );
    return {
      http,
      round,
      sent: r.sent,
      delivered: r.delivered,
      deliveryRatio: r.deliveryRatio,
      deliveredPerSec: r.deliveredPerSec,
      serverCpuS,
      wallS: r.cpu.wallSeconds ?? 0,
      cpuUsPerUpdate,
      background,
      ...(st === undefined ? {} : { observer: st }),
      ...(metrics === undefined ? {} : { metrics }),
      ok: problems.length === 0,
      problems,
    };
  } finally {
    observer?.stop();
    await server.stop();
  }
}

function runRows(runs: readonly HttpCostRun[]): string[][] {
  return runs.map((x) => [
    String(x.round),
    x.http ? 'page + /metrics' : 'no HTTP',
    fmtRate(x.deliveredPerSec),
    `${(x.deliveryRatio * 100).toFixed(2)}%`,
    x.serverCpuS.toFixed(2),
    x.cpuUsPerUpdate.toFixed(4),
    x.observer === undefined ? '' : String(x.observer.requests),
    `${(x.background * 100).toFixed(0)}%`,
  ]);
}

const RUN_HEADER = [
  'round',
  'mode',
  'delivered upd/s',
  'delivery',
  'server CPU s',
  'CPU us/update',
  'HTTP requests',
  'machine busy before',
];

export function summaryText(d: HttpCostData): string {
  return (
    `median server CPU per delivered update: ${d.medianWithout.toFixed(4)} us without HTTP, ` +
    `${d.medianWith.toFixed(4)} us with the page open and /metrics every ${String(d.scrapeMs)} ms` +
    (d.pooledOverhead === undefined ? '' : ` (${pctText(d.pooledOverhead)} unpaired)`) +
    `; paired (median of the rounds): ${pctText(d.overhead)} (per round: ` +
    `${d.roundOverheads.map(pctText).join(', ')}); ` +
    `HTTP itself ${d.httpCpuMsPerS.toFixed(1)} ms server CPU per second; ` +
    (d.smoke
      ? 'smoke sizes: not judged'
      : `target within ${String(TARGET * 100)}%: ${d.withinTarget ? 'met' : 'NOT met'}`)
  );
}

export function httpCostText(d: HttpCostData): string {
  return `${textTable(RUN_HEADER, runRows(d.runs))}\n${summaryText(d)}\n`;
}

function command(d: HttpCostData): string {
  const flags = d.serverFlags.length === 0 ? '' : ` --server-flags "${d.serverFlags.join(' ')}"`;
  return (
    `node --import tsx bench/run.ts http-cost --clients ${String(d.clients)} ` +
    `--http-rate ${String(d.rate)} --http-duration ${String(d.durationS)} ` +
    `--http-rounds ${String(d.rounds)}${flags}`
  );
}

function markdown(d: HttpCostData): string {
  return [
    `${String(d.clients)} default tsbond peers (REASSEMBLY) on one VNI, paced at ` +
      `${fmtRate(d.rate)} updates/s in for ${String(d.durationS)} s per run; ${String(d.rounds)} ` +
      `alternating pairs of runs of \`tsbond server\` without HTTP and with ` +
      `\`${HTTP_FLAGS.join(' ')}\`, the status page open (emulated: its event stream and the ` +
      `re-queries it makes) and /metrics scraped every ${String(d.scrapeMs)} ms. CPU: the ` +
      `server process's user + system time from the start of publishing to the end of the ` +
      `drain, per update delivered. Judged: the median over rounds of each round's ratio (a ` +
      `round's two runs are adjacent in time; this VM's speed drifts, the same run taking up to ` +
      `twice the CPU some minutes later, so medians pooled across rounds are shown but not judged).`,
    '',
    `Command: \`${command(d)}\`.`,
    '',
    mdTable(RUN_HEADER, runRows(d.runs)),
    '',
    `${summaryText(d)}.`,
  ].join('\n');
}

export async function runHttpCost(ctx: ExtraContext): Promise<ExtraResult> {
  const smoke = ctx.smoke;
  const p = {
    rate: smoke ? 2000 : intArg(ctx, 'http-rate', 50_000, 1),
    durationS: smoke ? 3 : intArg(ctx, 'http-duration', 20, 1),
    rounds: smoke ? 1 : intArg(ctx, 'http-rounds', 9, 1),
    scrapeMs: intArg(ctx, 'scrape-ms', 1000, 100),
  };
  const runs: HttpCostRun[] = [];
  for (let round = 1; round <= p.rounds; round++) {
    // Alternate the order so that a drift of the machine does not favour one side.
    const order = round % 2 === 1 ? [false, true] : [true, false];
    for (const http of order) runs.push(await oneRun(ctx, http, round, p));
  }
  const per = (http: boolean): number[] =>
    runs.filter((r) => r.http === http).map((r) => r.cpuUsPerUpdate);
  const medianWithout = median(per(false));
  const medianWith = median(per(true));
  const pooledOverhead = medianWith / medianWithout - 1;
  const pair = (i: number): { w: HttpCostRun | undefined; wo: HttpCostRun | undefined } => ({
    w: runs.find((r) => r.round === i + 1 && r.http),
    wo: runs.find((r) => r.round === i + 1 && !r.http),
  });
  const roundOverheads = Array.from({ length: p.rounds }, (_, i) => {
    const { w, wo } = pair(i);
    return (w?.cpuUsPerUpdate ?? Number.NaN) / (wo?.cpuUsPerUpdate ?? Number.NaN) - 1;
  });
  const overhead = median(roundOverheads);
  const msPerS = (r: HttpCostRun | undefined): number =>
    r !== undefined && r.wallS > 0 ? (r.serverCpuS / r.wallS) * 1000 : Number.NaN;
  const d: HttpCostData = {
    smoke,
    httpCpuMsPerS: median(
      Array.from({ length: p.rounds }, (_, i) => {
        const { w, wo } = pair(i);
        return msPerS(w) - msPerS(wo);
      }),
    ),
    clients: ctx.options.fanout.clients,
    rate: p.rate,
    durationS: p.durationS,
    rounds: p.rounds,
    scrapeMs: p.scrapeMs,
    serverFlags: ctx.serverFlags,
    runs,
    medianWithout,
    medianWith,
    overhead,
    pooledOverhead,
    roundOverheads,
    withinTarget: overhead <= TARGET,
  };
  ctx.progress(summaryText(d));
  const problems = runs.flatMap((r) =>
    r.problems.map((x) => `round ${String(r.round)} ${r.http ? 'with' : 'without'} HTTP: ${x}`),
  );
  const cmd = command(d);
  const defaults = ctx.serverFlags.length === 0;
  const figures: ExtraFigure[] = [
    {
      figure: 'server CPU per delivered update, no HTTP (median)',
      value: `${medianWithout.toFixed(4)} us`,
      command: cmd,
      defaults,
    },
    {
      figure: `server CPU per delivered update, page open + /metrics every ${String(p.scrapeMs / 1000)} s (median)`,
      value: `${medianWith.toFixed(4)} us`,
      command: cmd,
      defaults,
    },
    {
      figure: 'server CPU of HTTP itself (median over rounds of with - without)',
      value: `${d.httpCpuMsPerS.toFixed(1)} ms per second`,
      command: cmd,
      defaults,
    },
    {
      figure: 'CPU per delivered update with HTTP vs without (paired: median of the rounds)',
      value:
        `${pctText(overhead)} (per round: ${roundOverheads.map(pctText).join(', ')}; ` +
        `unpaired medians: ${pctText(pooledOverhead)})`,
      // The smoke run's sizes say nothing about the cost: correctness only.
      ...(smoke ? {} : { target: 'within 10%', met: d.withinTarget }),
      command: cmd,
      defaults,
    },
  ];
  return {
    ok: problems.length === 0,
    problems,
    figures,
    markdown: markdown(d),
    data: d,
  };
}

export const httpCostModule: ExtraModule = {
  name: 'http-cost',
  title: 'Cost of the status page and /metrics (issue 13)',
  inAll: true,
  inSmoke: true,
  options: {
    'http-rate': { type: 'string', min: 1 },
    'http-duration': { type: 'string', min: 1 },
    'http-rounds': { type: 'string', min: 1 },
    'scrape-ms': { type: 'string', min: 100 },
  },
  help: `HTTP cost (http-cost; npm run bench:http): the default fleet (--clients) paced, pairs of
runs without HTTP and with --http and --metrics, the page open and /metrics scraped
  --http-rate N        updates/s in over all publishers (default 50000)
  --http-duration S    publishing time per run (default 20)
  --http-rounds N      alternating pairs of runs; paired ratios, their median judged (default 9)
  --scrape-ms MS       /metrics scrape interval (default 1000)`,
  run: runHttpCost,
};
