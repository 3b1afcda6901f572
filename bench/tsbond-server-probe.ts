/**
 * The tsbond server under test, in its own process: MetalBondServer with the same defaults as
 * `tsbond server` (keepalive 5 s, default flow control), plus a small IPC probe for the driver.
 * Started by bench/run.ts with `node --import tsx --expose-gc bench/tsbond-server-probe.ts`
 * (and `--cpu-prof` when profiling). Messages: {op:'mem'} answers process.memoryUsage() after a
 * full GC; {op:'stats'} answers route and peer counts; {op:'shutdown'} stops and exits (which also
 * writes the CPU profile).
 */

import { parseArgs } from 'node:util';

import { createLogger } from '../src/log.js';
import { MetalBondServer } from '../src/server/server.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '[::1]:0' },
    keepalive: { type: 'string', default: '5' },
    'log-level': { type: 'string', default: 'warn' },
  },
});

// JSON log lines on stderr (the driver sends them to a file): warnings by default, so slow
// consumer disconnects and protocol errors are on record without per-session noise.
// Pacing off: the benchmark peers reassemble the stream. The default pacing (512 KiB/s per peer,
// for Go MetalBond clients, which do not) would make every figure here a pacing figure.
const server = await MetalBondServer.start(values.listen, {
  keepalive: Number(values.keepalive),
  pacing: false,
  logger: createLogger({ level: values['log-level'], format: 'json' }),
});

interface ProbeRequest {
  seq: number;
  op: 'mem' | 'stats' | 'shutdown';
}

function isProbeRequest(m: unknown): m is ProbeRequest {
  return typeof m === 'object' && m !== null && typeof (m as { op?: unknown }).op === 'string';
}

const gc = (globalThis as { gc?: () => void }).gc;

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
      });
      return;
    }
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

process.send?.({ event: 'listening', host: server.address.host, port: server.address.port });
