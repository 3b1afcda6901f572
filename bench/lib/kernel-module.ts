/**
 * Kernel route installation (issue 12) as an extra module of bench/run.ts: bench/lib/kernel.ts
 * (KernelRouteInstaller against `ip -batch` with the same route mix, in network namespaces of
 * its own) per table size. Needs root (else reported as not measured). Correctness (smoke):
 * every route of the mix in the kernel after both, the installer settled. Targets: time <= 1.5x
 * `ip -batch`, event-loop lag max <= 50 ms.
 */

import type { ExtraContext, ExtraFigure, ExtraModule, ExtraResult } from './extra.js';
import { fmtCount, mdTable } from './format.js';
import { runKernelBench, type KernelBenchResult } from './kernel.js';

function sizes(ctx: ExtraContext): number[] {
  if (ctx.smoke) return [2_000];
  const v = ctx.args['kernel-routes'];
  return (typeof v === 'string' ? v : '100000,1000000').split(',').map((x) => Number(x.trim()));
}

const HEADER = [
  'routes',
  'installer',
  'ip -batch',
  'ratio',
  'CPU ratio',
  'lag max / p99',
  'in kernel',
];

function row(r: KernelBenchResult): string[] {
  return [
    fmtCount(r.routes),
    `${r.installer.ms.toFixed(0)} ms`,
    `${r.ipBatch.ms.toFixed(0)} ms`,
    r.ratio.toFixed(2),
    r.cpuRatio.toFixed(2),
    `${r.installer.lagMaxMs.toFixed(1)} / ${r.installer.lagP99Ms.toFixed(1)} ms`,
    `${String(r.installer.kernelRoutes)} / ${String(r.ipBatch.kernelRoutes)}`,
  ];
}

export async function runKernelModule(ctx: ExtraContext): Promise<ExtraResult> {
  if (process.getuid?.() !== 0) {
    return { ok: true, problems: [], figures: [], skipped: 'needs root (network namespaces)' };
  }
  const results: KernelBenchResult[] = [];
  const problems: string[] = [];
  for (const routes of sizes(ctx)) {
    await ctx.background(`kernel ${String(routes)}`);
    const r = await runKernelBench({ routes, log: ctx.progress });
    results.push(r);
    if (r.installer.kernelRoutes !== routes || r.ipBatch.kernelRoutes !== routes) {
      problems.push(
        `${fmtCount(routes)}: ${String(r.installer.kernelRoutes)} routes in the kernel after the installer, ${String(r.ipBatch.kernelRoutes)} after ip -batch`,
      );
    }
    if (!r.installer.settled) problems.push(`${fmtCount(routes)}: the installer did not settle`);
  }
  const cmd = `node --import tsx bench/run.ts kernel --kernel-routes ${results.map((r) => String(r.routes)).join(',')}`;
  const figures: ExtraFigure[] = results.flatMap((r): ExtraFigure[] => [
    {
      figure: `${fmtCount(r.routes)} kernel routes: installer time / ip -batch`,
      value: `${r.installer.ms.toFixed(0)} ms / ${r.ipBatch.ms.toFixed(0)} ms = ${r.ratio.toFixed(2)} (CPU ${r.cpuRatio.toFixed(2)})`,
      ...(ctx.smoke ? {} : { target: '<= 1.5', met: r.ratio <= 1.5 }),
      command: cmd,
    },
    {
      figure: `${fmtCount(r.routes)} kernel routes: event-loop lag max while installing`,
      value: `${r.installer.lagMaxMs.toFixed(1)} ms (p99 ${r.installer.lagP99Ms.toFixed(1)} ms)`,
      ...(ctx.smoke ? {} : { target: '<= 50 ms', met: r.installer.lagMaxMs <= 50 }),
      command: cmd,
    },
  ]);
  return {
    ok: problems.length === 0,
    problems,
    figures,
    markdown: [
      'KernelRouteInstaller against `ip -batch` (the same routes, nexthop objects), each in a network namespace of its own; load average before each run in the JSON.',
      '',
      `Command: \`${cmd}\`.`,
      '',
      mdTable(HEADER, results.map(row)),
    ].join('\n'),
    data: results,
  };
}

export const kernelModule: ExtraModule = {
  name: 'kernel',
  title: 'Kernel route installation vs ip -batch (issue 12)',
  inAll: true,
  inSmoke: true,
  options: { 'kernel-routes': { type: 'string' } },
  help: `Kernel routes (kernel; needs root): KernelRouteInstaller vs ip -batch in namespaces
  --kernel-routes LIST routes per run (default 100000,1000000; smoke: 2000)`,
  run: runKernelModule,
};
