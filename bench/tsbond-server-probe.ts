/**
 * The tsbond server under test, in its own process: exactly `tsbond server`, i.e. the CLI's own
 * command (src/cli/server-cmd.ts: its flag parsing, its defaults, its logger), run here instead of
 * through the binary so that the driver can ask the running server questions over IPC.
 *
 * Usage (forked by bench/lib/servers.ts with `node --import tsx --expose-gc`, plus `--cpu-prof`
 * when profiling): bench/tsbond-server-probe.ts [SERVER FLAGS...]. Every argument is a flag of
 * `tsbond server`; the driver passes `--listen [::1]:0` and `--keepalive 5` (the CLI's default
 * keepalive) and nothing else unless asked to (`bench/run.ts --server-flags`), so by default the
 * server runs with the CLI's DEFAULT configuration: default pacing (512 KiB/s) towards peers that
 * do not announce REASSEMBLY, full speed towards those that do (once the server implements the
 * tsbond extensions), default flow control, info-level JSON logs (to a file, see servers.ts).
 *
 * How: MetalBondServer.start is wrapped before the command runs, so the instance the CLI starts
 * (with the configuration the CLI built) is captured; nothing else is changed.
 *
 * The same for the HTTP listeners: with `--http ADDR` and/or `--metrics ADDR` (the HTTP cost
 * benchmark passes `[::1]:0` for both), StatusServer.start is wrapped too, and the 'listening'
 * message waits for as many listeners as those flags ask for and carries their ports.
 *
 * IPC: {op:'mem'} answers process.memoryUsage() after a full GC; {op:'stats'} route and peer
 * counts, counters, the largest peer queue and RSS; {op:'config'} the server's resolved
 * configuration as far as it can be serialised; {op:'shutdown'} stops and exits (which also
 * writes the CPU profile). The 'listening' message carries the argv used, the time the server
 * was listening (for the sync delay: SYNCED is held back for its first 15 s) and the ports of
 * the HTTP listeners (`http`, `metrics`).
 */

import { StatusServer } from '../src/http/status-server.js';
import { MetalBondServer } from '../src/server/server.js';
import { serverCommand } from '../src/cli/server-cmd.js';

const args = process.argv.slice(2);

// HTTP listeners the flags ask for (`--http X`, `--http=X`; not `--http-allow-host`).
const httpWanted = args.filter((a) => /^--(http|metrics)(=|$)/.test(a)).length;
const httpPorts: { http?: number; metrics?: number } = {};
let httpStarted = 0;
let httpAllStarted: () => void = () => undefined;
const httpReady = new Promise<void>((resolve) => {
  httpAllStarted = resolve;
  if (httpWanted === 0) resolve();
});
const originalHttp = StatusServer.start.bind(StatusServer);
StatusServer.start = async (...a: Parameters<typeof StatusServer.start>) => {
  const s = await originalHttp(...a);
  httpPorts[(a[1].mode ?? 'full') === 'full' ? 'http' : 'metrics'] = s.address.port;
  if (++httpStarted >= httpWanted) httpAllStarted();
  return s;
};

let started: (s: MetalBondServer) => void = () => undefined;
const captured = new Promise<MetalBondServer>((resolve) => {
  started = resolve;
});
const original = MetalBondServer.start.bind(MetalBondServer);
MetalBondServer.start = async (...a: Parameters<typeof MetalBondServer.start>) => {
  const s = await original(...a);
  started(s);
  return s;
};

// The CLI's action starts the server (and installs its SIGINT/SIGTERM handlers). Not awaited:
// whether the action returns once listening or only at shutdown, the started server is captured.
serverCommand()
  .exitOverride()
  .parseAsync(args, { from: 'user' })
  .catch((e: unknown) => {
    process.stderr.write(`tsbond server: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
const server: MetalBondServer = await captured;
const listeningAt = Date.now();
await httpReady;

interface ProbeRequest {
  seq: number;
  op: 'mem' | 'stats' | 'config' | 'shutdown';
}

function isProbeRequest(m: unknown): m is ProbeRequest {
  return typeof m === 'object' && m !== null && typeof (m as { op?: unknown }).op === 'string';
}

const gc = (globalThis as { gc?: () => void }).gc;

/** The resolved configuration, without functions and loggers. */
function configSnapshot(): unknown {
  return JSON.parse(
    JSON.stringify(server.config, (k, v: unknown) =>
      k === 'logger' || typeof v === 'function' ? undefined : v,
    ),
  ) as unknown;
}

process.on('message', (m: unknown) => {
  if (!isProbeRequest(m)) return;
  switch (m.op) {
    case 'mem': {
      gc?.();
      gc?.();
      process.send?.({
        seq: m.seq,
        memory: process.memoryUsage(),
        gc: gc !== undefined,
        routes: server.routeCount,
        peers: server.peerCount,
      });
      return;
    }
    case 'stats': {
      let maxQueuedBytes = 0;
      for (const p of server.peers()) maxQueuedBytes = Math.max(maxQueuedBytes, p.queuedBytes);
      process.send?.({
        seq: m.seq,
        routes: server.routeCount,
        peers: server.peerCount,
        counters: server.counters,
        maxQueuedBytes,
        rss: process.memoryUsage.rss(),
        uptimeMs: Date.now() - listeningAt,
      });
      return;
    }
    case 'config':
      process.send?.({ seq: m.seq, config: configSnapshot() });
      return;
    case 'shutdown':
      void server.shutdown().then(() => {
        process.send?.({ seq: m.seq, stopped: true }, undefined, {}, () => process.exit(0));
      });
      return;
  }
});

// Dies with the driver (the profile is still written on this exit path).
process.on('disconnect', () => {
  void server.shutdown().finally(() => process.exit(0));
});

process.send?.({
  event: 'listening',
  host: server.address.host,
  port: server.address.port,
  argv: args,
  listeningAt,
  ...httpPorts,
});
