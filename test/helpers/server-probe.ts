/**
 * A tsbond server in its own process for the fuzzer and the soak: MetalBondServer with the given
 * configuration, reporting over IPC what the driver samples (RSS, heap, event-loop lag measured
 * with perf_hooks.monitorEventLoopDelay, peers, routes, counters) and any crash (uncaught
 * exception, unhandled rejection), after which it exits with code 70.
 *
 *   fork('test/helpers/server-probe.ts', [JSON.stringify({ listen: '[::1]:0', keepalive: 5 })])
 *
 * Messages to the driver: { event: 'listening', port, pid }, { event: 'crash', kind, error },
 * and replies { seq, sample } to { op: 'sample', seq }. Exits when the IPC channel closes.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';

import { createLogger, silentLogger } from '../../src/log.js';
import type { ServerConfig } from '../../src/server/config.js';
import { MetalBondServer } from '../../src/server/server.js';

export interface ProbeConfig {
  readonly listen: string;
  readonly keepalive?: number;
  /** false: no pacing (tsbond peers reassemble); undefined: the server's default. */
  readonly pacing?: false;
  /** Log level on stderr; silent by default. */
  readonly logLevel?: string;
  /** Extra server options (e.g. the lead's syncDelayMs once it exists), passed through. */
  readonly extra?: Record<string, unknown>;
}

export interface LagSummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface ProbeSample {
  readonly at: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay since the previous sample, milliseconds. */
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  /** Event-loop delay since the last { op: 'mark' } (or the start). */
  readonly lagSinceMark: LagSummary;
  /** Event-loop delay since the server started. */
  readonly lagTotal: LagSummary;
  readonly peers: number;
  readonly routes: number;
  readonly counters: Record<string, number>;
}

export type ProbeMessage =
  | { readonly event: 'listening'; readonly port: number; readonly pid: number }
  | { readonly event: 'crash'; readonly kind: string; readonly error: string }
  | { readonly seq: number; readonly sample: ProbeSample };

const RESOLUTION_MS = 10;

function send(m: ProbeMessage): void {
  if (process.connected) process.send?.(m);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ProbeConfig;
  const crash = (kind: string) => (e: unknown) => {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`server-probe: ${kind}: ${error}\n`);
    send({ event: 'crash', kind, error });
    setTimeout(() => process.exit(70), 50);
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));

  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  lag.enable();
  const sinceMark = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  sinceMark.enable();
  const total = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  total.enable();
  const serverConfig: ServerConfig = {
    ...(config.extra ?? {}),
    ...(config.keepalive === undefined ? {} : { keepalive: config.keepalive }),
    ...(config.pacing === false ? { pacing: false } : {}),
    logger:
      config.logLevel === undefined
        ? silentLogger()
        : createLogger({ level: config.logLevel, format: 'json' }),
  };
  const server = await MetalBondServer.start(config.listen, serverConfig);
  send({ event: 'listening', port: server.address.port, pid: process.pid });

  process.on('message', (m: { op?: string; seq?: number }) => {
    if (m.op === 'mark') {
      sinceMark.reset();
      return;
    }
    if (m.op !== 'sample' || m.seq === undefined) return;
    const mem = process.memoryUsage();
    // The histogram records the interval between its timer's runs: the delay is what exceeds
    // the resolution.
    const ms = (ns: number): number =>
      Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);
    send({
      seq: m.seq,
      sample: {
        at: Date.now(),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        lagP50Ms: ms(lag.percentile(50)),
        lagP99Ms: ms(lag.percentile(99)),
        lagMaxMs: ms(lag.max),
        lagSinceMark: {
          p50Ms: ms(sinceMark.percentile(50)),
          p99Ms: ms(sinceMark.percentile(99)),
          maxMs: ms(sinceMark.max),
        },
        lagTotal: {
          p50Ms: ms(total.percentile(50)),
          p99Ms: ms(total.percentile(99)),
          maxMs: ms(total.max),
        },
        peers: server.peerCount,
        routes: server.routeCount,
        counters: numericCounters(server.counters),
      },
    });
    lag.reset();
  });
  process.on('disconnect', () => {
    void server.shutdown().finally(() => process.exit(0));
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      void server.shutdown().finally(() => process.exit(0));
    });
  }
}

await main();

/** The plain number counters (the per-reason breakdowns left out), for IPC and summaries. */
function numericCounters(counters: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters as Record<string, unknown>)) {
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}
