/**
 * The tsbond server for the HTTP cost benchmark (bench/lib/http-cost.ts), in its own process:
 * MetalBondServer as in bench/tsbond-server-probe.ts (pacing off), plus, with --http, the status
 * page endpoints and, with --metrics, the metrics listener, both through the same code the CLI
 * uses. IPC: sends {event:'listening', port, http, metrics}; answers {op:'stats'|'mem'|'shutdown'}.
 */

import { parseArgs } from 'node:util';

import { serverStatusSource } from '../src/http/server-source.js';
import { StatusServer } from '../src/http/status-server.js';
import { createLogger } from '../src/log.js';
import { MetalBondServer } from '../src/server/server.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '[::1]:0' },
    keepalive: { type: 'string', default: '5' },
    http: { type: 'string' },
    metrics: { type: 'string' },
  },
});

const log = createLogger({ level: 'warn', format: 'json' });
const server = await MetalBondServer.start(values.listen, {
  keepalive: Number(values.keepalive),
  pacing: false,
  logger: log,
});
const source = serverStatusSource(server);
const http =
  values.http === undefined
    ? undefined
    : await StatusServer.start(source, { listen: values.http, logger: log });
const metrics =
  values.metrics === undefined
    ? undefined
    : await StatusServer.start(source, { listen: values.metrics, mode: 'metrics', logger: log });

interface ProbeRequest {
  seq: number;
  op: 'mem' | 'stats' | 'shutdown';
}

process.on('message', (m: unknown) => {
  if (typeof m !== 'object' || m === null) return;
  const r = m as ProbeRequest;
  switch (r.op) {
    case 'mem':
    case 'stats': {
      let maxQueuedBytes = 0;
      for (const p of server.peers()) maxQueuedBytes = Math.max(maxQueuedBytes, p.queuedBytes);
      process.send?.({
        seq: r.seq,
        routes: server.routeCount,
        peers: server.peerCount,
        maxQueuedBytes,
        rss: process.memoryUsage.rss(),
        memory: process.memoryUsage(),
      });
      return;
    }
    case 'shutdown':
      void (async () => {
        await http?.close();
        await metrics?.close();
        source.close();
        await server.shutdown();
        process.send?.({ seq: r.seq, stopped: true }, undefined, {}, () => process.exit(0));
      })();
      return;
  }
});
process.on('disconnect', () => process.exit(0));

process.send?.({
  event: 'listening',
  port: server.address.port,
  http: http?.address.port,
  metrics: metrics?.address.port,
});
