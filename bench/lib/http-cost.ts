/**
 * The cost of looking into a tsbond server: CPU per delivered update under fan-out load with the
 * status page open and /metrics scraped every second, against the same run without HTTP. The
 * page is emulated the way page.js behaves (its event stream; on each change summary the first
 * page of routes and the VNIs; every other second the sessions and the status), from
 * the driver process, so only the server's side is measured. Runs alternate (without, with) and
 * the medians are compared; target: within 10%.
 */

import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';

import { runFanout, type FanoutOptions, type FanoutResult } from './fanout.js';
import { fmtRate, progress, textTable } from './format.js';
import { cpuSeconds, forkTs, rssBytes, waitExit } from './procs.js';
import type { RunningServer } from './servers.js';

const HOST = '::1';

export interface HttpCostOptions {
  readonly fanout: FanoutOptions;
  /** Alternating pairs of runs (without, with); medians compared. */
  readonly rounds: number;
  /** /metrics scrape interval, ms. */
  readonly scrapeMs: number;
  /** Write a V8 CPU profile of each server run into this directory. */
  readonly profileDir?: string | undefined;
}

export interface HttpCostRun {
  readonly http: boolean;
  readonly round: number;
  readonly delivered: number;
  readonly deliveryRatio: number;
  readonly serverCpuS: number;
  /** Server CPU microseconds per delivered update. */
  readonly cpuUsPerUpdate: number;
  readonly requests: number;
  readonly events: number;
  readonly ok: boolean;
}

export interface HttpCostResult {
  readonly options: HttpCostOptions;
  readonly runs: readonly HttpCostRun[];
  readonly medianWithout: number;
  readonly medianWith: number;
  /** medianWith / medianWithout - 1 */
  readonly overhead: number;
  readonly withinTarget: boolean;
}

interface HttpProbe extends RunningServer {
  readonly httpPort: number | undefined;
  readonly metricsPort: number | undefined;
}

async function startProbe(
  withHttp: boolean,
  keepalive: number,
  profileDir: string | undefined,
): Promise<HttpProbe> {
  const args = ['--listen', `[${HOST}]:0`, '--keepalive', String(keepalive)];
  if (withHttp) args.push('--http', `[${HOST}]:0`, '--metrics', `[${HOST}]:0`);
  const flags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const c: ChildProcess = forkTs('bench/tsbond-http-probe.ts', args, flags, [
    'ignore',
    'inherit',
    'inherit',
    'ipc',
  ]);
  const hello = await new Promise<{ port: number; http?: number; metrics?: number }>(
    (resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error('tsbond http probe did not start within 30 s'));
      }, 30_000);
      c.on('message', (m: unknown) => {
        const x = m as { event?: string; port?: number; http?: number; metrics?: number };
        if (x.event === 'listening' && typeof x.port === 'number') {
          clearTimeout(t);
          resolve({
            port: x.port,
            ...(x.http !== undefined && { http: x.http }),
            ...(x.metrics !== undefined && { metrics: x.metrics }),
          });
        }
      });
      c.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`tsbond http probe exited with ${String(code)}`));
      });
    },
  );
  let seq = 1;
  const ask = (op: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const id = seq++;
      const on = (m: unknown): void => {
        if ((m as { seq?: number }).seq === id) {
          c.off('message', on);
          resolve(m as Record<string, unknown>);
        }
      };
      c.on('message', on);
      c.send({ seq: id, op });
    });
  const pid = c.pid ?? 0;
  return {
    kind: 'tsbond',
    pid,
    host: HOST,
    port: hello.port,
    httpPort: hello.http,
    metricsPort: hello.metrics,
    memory: () => Promise.resolve({ rss: rssBytes(pid) ?? 0 }),
    routeCount: async () => {
      const r = await ask('stats');
      return typeof r.routes === 'number' ? r.routes : undefined;
    },
    sample: async () => {
      const r = await ask('stats');
      return {
        rss: typeof r.rss === 'number' ? r.rss : 0,
        maxQueuedBytes: typeof r.maxQueuedBytes === 'number' ? r.maxQueuedBytes : undefined,
      };
    },
    alive: () => c.exitCode === null && c.signalCode === null,
    logSummary: () => Promise.resolve({}),
    stop: async () => {
      if (c.exitCode === null && c.signalCode === null) {
        c.send({ seq: seq++, op: 'shutdown' });
        await waitExit(c, 10_000);
      }
    },
  };
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: HOST, port, path, headers: { host: `[${HOST}]:${String(port)}` } },
      (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => {
          resolve(n);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An open status page (as page.js behaves) plus a Prometheus scrape every `scrapeMs`. */
class Observer {
  requests = 0;
  events = 0;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private sse: ReturnType<typeof request> | undefined;
  private busy = new Set<string>();

  constructor(
    private readonly httpPort: number,
    private readonly metricsPort: number,
    private readonly scrapeMs: number,
  ) {}

  /** One request of a kind at a time, as the page's coalescing does. */
  private fetch(path: string, port = this.httpPort): void {
    const kind = path.split('?')[0] ?? path;
    if (this.stopped || this.busy.has(kind)) return;
    this.busy.add(kind);
    this.requests++;
    get(port, path)
      .catch(() => 0)
      .finally(() => this.busy.delete(kind));
  }

  async start(): Promise<void> {
    for (const p of [
      '/',
      '/api/status',
      '/api/history',
      '/api/sessions?limit=200',
      '/api/vnis?limit=200',
      '/api/routes?offset=0&limit=100',
    ])
      await get(this.httpPort, p);
    this.requests += 6;
    let samples = 0;
    this.sse = request(
      {
        host: HOST,
        port: this.httpPort,
        path: '/api/events',
        headers: { host: `[${HOST}]:${String(this.httpPort)}` },
      },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            this.events++;
            if (block.startsWith('event: changes')) {
              this.fetch('/api/routes?offset=0&limit=100');
              this.fetch('/api/vnis?limit=200');
            } else if (block.startsWith('event: sample') && ++samples % 2 === 0) {
              this.fetch('/api/sessions?limit=200');
              this.fetch('/api/status');
            }
          }
        });
      },
    );
    this.sse.on('error', () => undefined);
    this.sse.end();
    this.timers.push(
      setInterval(() => {
        this.fetch('/metrics', this.metricsPort);
      }, this.scrapeMs),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.sse?.destroy();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function oneRun(http: boolean, round: number, o: HttpCostOptions): Promise<HttpCostRun> {
  const server = await startProbe(http, o.fanout.keepalive, o.profileDir);
  let observer: Observer | undefined;
  try {
    if (http) {
      observer = new Observer(server.httpPort ?? 0, server.metricsPort ?? 0, o.scrapeMs);
      await observer.start();
    }
    const before = cpuSeconds(server.pid) ?? 0;
    const r: FanoutResult = await runFanout(server, o.fanout);
    const after = cpuSeconds(server.pid) ?? before;
    const serverCpuS = after - before;
    const run: HttpCostRun = {
      http,
      round,
      delivered: r.delivered,
      deliveryRatio: r.deliveryRatio,
      serverCpuS,
      cpuUsPerUpdate: r.delivered > 0 ? (serverCpuS / r.delivered) * 1e6 : Number.NaN,
      requests: observer?.requests ?? 0,
      events: observer?.events ?? 0,
      ok: r.ok,
    };
    progress(
      'http-cost',
      `round ${String(round)} ${http ? 'with page + /metrics' : 'without HTTP'}: ${fmtRate(r.deliveredPerSec)}/s delivered, server ${serverCpuS.toFixed(2)} CPU s, ${run.cpuUsPerUpdate.toFixed(3)} us/update${http ? `, ${String(run.requests)} requests, ${String(run.events)} events` : ''}`,
    );
    return run;
  } finally {
    observer?.stop();
    await server.stop();
  }
}

export async function runHttpCost(o: HttpCostOptions): Promise<HttpCostResult> {
  const runs: HttpCostRun[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate the order so that a drift of the machine does not favour one side.
    const order = round % 2 === 1 ? [false, true] : [true, false];
    for (const http of order) runs.push(await oneRun(http, round, o));
  }
  const medianWithout = median(runs.filter((r) => !r.http).map((r) => r.cpuUsPerUpdate));
  const medianWith = median(runs.filter((r) => r.http).map((r) => r.cpuUsPerUpdate));
  const overhead = medianWith / medianWithout - 1;
  return { options: o, runs, medianWithout, medianWith, overhead, withinTarget: overhead <= 0.1 };
}

export function formatHttpCost(r: HttpCostResult): string {
  const rows = r.runs.map((x) => [
    String(x.round),
    x.http ? 'page + /metrics' : 'no HTTP',
    fmtRate(x.delivered),
    `${(x.deliveryRatio * 100).toFixed(1)}%`,
    x.serverCpuS.toFixed(2),
    x.cpuUsPerUpdate.toFixed(3),
    x.http ? String(x.requests) : '',
  ]);
  return (
    textTable(
      ['round', 'mode', 'delivered', 'ratio', 'server CPU s', 'CPU us/update', 'HTTP requests'],
      rows,
    ) +
    `\nmedian CPU per delivered update: ${r.medianWithout.toFixed(3)} us without HTTP, ${r.medianWith.toFixed(3)} us with the page open and /metrics every ${String(r.options.scrapeMs)} ms: ${r.overhead >= 0 ? '+' : ''}${(r.overhead * 100).toFixed(1)}% (target: within 10%: ${r.withinTarget ? 'met' : 'NOT met'})\n`
  );
}
