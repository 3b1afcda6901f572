/**
 * Entry point of the HTTP cost benchmark (bench/lib/http-cost.ts):
 *
 *   node --import tsx bench/http-cost.ts [--clients 50] [--rate 50000] [--duration 10]
 *        [--rounds 3] [--scrape-ms 1000] [--json FILE] [--profile DIR]
 *
 * Fan-out at a fixed rate (paced, so every run does the same work), CPU per delivered update of
 * the tsbond server with the status page open and /metrics scraped, against the same without HTTP.
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { formatHttpCost, runHttpCost } from './lib/http-cost.js';
import { installCleanup } from './lib/procs.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    rate: { type: 'string', default: '50000' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'scrape-ms': { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    json: { type: 'string' },
    profile: { type: 'string' },
  },
});

installCleanup();
const result = await runHttpCost({
  fanout: {
    clients: Number(values.clients),
    batch: Number(values.batch),
    durationS: Number(values.duration),
    rate: Number(values.rate),
    workers: Number(values.workers),
    cycle: 64,
    vni: 100,
    keepalive: 5,
    drainTimeoutS: 30,
  },
  rounds: Number(values.rounds),
  scrapeMs: Number(values['scrape-ms']),
  profileDir: values.profile,
});
process.stdout.write(formatHttpCost(result));
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(result, null, 2));
process.exit(result.runs.every((r) => r.ok) ? 0 : 1);
