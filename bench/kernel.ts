/**
 * Kernel route benchmark entry (npm run bench:kernel): KernelRouteInstaller against `ip -batch`
 * for the same route mix, in network namespaces. Needs root.
 *
 *   node --import tsx bench/kernel.ts [--routes 100000,1000000] [--next-hops 1000] [--json FILE]
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { runKernelBench, type KernelBenchResult } from './lib/kernel.js';

const { values } = parseArgs({
  options: {
    routes: { type: 'string', default: '100000' },
    'next-hops': { type: 'string', default: '1000' },
    json: { type: 'string' },
  },
});

const results: KernelBenchResult[] = [];
for (const n of values.routes.split(',').map(Number)) {
  const r = await runKernelBench({
    routes: n,
    nextHops: Number(values['next-hops']),
    log: (line) => {
      process.stderr.write(`[kernel] ${line}\n`);
    },
  });
  results.push(r);
  process.stdout.write(
    `${String(n)} routes: installer ${r.installer.ms.toFixed(0)} ms, ip -batch ${r.ipBatch.ms.toFixed(0)} ms (ratio ${r.ratio.toFixed(2)}; CPU ${r.installer.cpuMs.toFixed(0)} / ${r.ipBatch.cpuMs.toFixed(0)} ms, ratio ${r.cpuRatio.toFixed(2)}; load ${r.loadBefore.toFixed(1)}), lag max ${r.installer.lagMaxMs.toFixed(1)} ms p99 ${r.installer.lagP99Ms.toFixed(1)} ms, in kernel ${String(r.installer.kernelRoutes)} / ${String(r.ipBatch.kernelRoutes)}${r.targetsMet ? '' : '  (targets NOT met)'}\n`,
  );
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
