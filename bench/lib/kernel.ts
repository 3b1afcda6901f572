/**
 * Kernel route benchmark (issue 12): the time KernelRouteInstaller needs to have a route mix in
 * the kernel, against `ip -batch` installing the same routes (the reference ceiling: one request
 * at a time, no event loop), both in network namespaces of their own created for the run, with a
 * veth device standing in for the ip6tnl tunnel. The routes in each namespace are counted after.
 * Needs root and iproute2.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { routeMix, type MixRoute } from './kernel-mix.js';
import { IPV6_LEG_GATEWAY } from '../../src/kernel/constants.js';

export interface KernelBenchOptions {
  /** Kernel routes (prefixes) in the mix. */
  readonly routes: number;
  /** Distinct next hops. Default 1000. */
  readonly nextHops?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface KernelBenchResult {
  readonly routes: number;
  /** Handler calls (one per leg). */
  readonly legs: number;
  readonly ipBatch: { readonly ms: number; readonly kernelRoutes: number };
  readonly installer: {
    readonly ms: number;
    readonly kernelRoutes: number;
    readonly lagMaxMs: number;
    readonly lagP99Ms: number;
    readonly lagMeanMs: number;
    readonly settled: boolean;
    readonly counters: unknown;
  };
  /** installer.ms / ipBatch.ms (target <= 1.5). */
  readonly ratio: number;
  /** Both counts equal the mix and the targets hold (ratio <= 1.5, lag max <= 50 ms). */
  readonly targetsMet: boolean;
}

const CHILD = fileURLToPath(new URL('../kernel-child.ts', import.meta.url));
const DEVICE = 't0';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], stdoutLimit = 1 << 20): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => {
      if (stdout.length < stdoutLimit) stdout += c;
    });
    p.stderr.setEncoding('utf8').on('data', (c: string) => {
      if (stderr.length < 65536) stderr += c;
    });
    p.on('error', reject);
    p.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

async function ip(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

async function createNamespace(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
  await ip(['-n', name, 'link', 'add', DEVICE, 'type', 'veth', 'peer', 'name', 't1']);
  await ip(['-n', name, 'link', 'set', DEVICE, 'up']);
  await ip(['-n', name, 'link', 'set', 't1', 'up']);
}

async function deleteNamespace(name: string): Promise<void> {
  await run('ip', ['netns', 'del', name]);
}

/** Counts protocol-254 routes (not their nexthop lines) of both families in every table. */
export function countKernelRoutes(ns: string): Promise<number> {
  const one = (family: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const p = spawn('ip', ['-n', ns, family, 'route', 'show', 'table', 'all', 'proto', '254'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let n = 0;
      let atLineStart = true;
      p.stdout.on('data', (chunk: Buffer) => {
        for (const byte of chunk) {
          if (atLineStart && byte !== 0x09 && byte !== 0x20 && byte !== 0x0a) n++;
          atLineStart = byte === 0x0a;
        }
      });
      p.on('error', reject);
      p.on('close', () => {
        resolve(n);
      });
    });
  return Promise.all([one('-4'), one('-6')]).then(([a, b]) => a + b);
}

/** The `ip -batch` line for one route, in the form the installer writes. */
export function batchLine(r: MixRoute): string {
  const via = r.family === 6 ? `via ${IPV6_LEG_GATEWAY} ` : '';
  const legs = [...r.hops]
    .sort()
    .map((h) => `nexthop ${via}encap ip6 dst ${h} dev ${DEVICE}`)
    .join(' ');
  return `route replace ${r.prefix} table ${String(r.table)} proto 254 ${legs}`;
}

export async function runKernelBench(o: KernelBenchOptions): Promise<KernelBenchResult> {
  const log = o.log ?? (() => undefined);
  if (process.getuid?.() !== 0) throw new Error('the kernel benchmark needs root (network namespaces)');
  const tag = `${String(process.pid)}-${String(Date.now() % 100000)}`;
  const nsBatch = `tsbond-kb-${tag}-ip`;
  const nsInstaller = `tsbond-kb-${tag}-ts`;
  const dir = mkdtempSync(join(tmpdir(), 'tsbond-kbench-'));
  try {
    const lines: string[] = [];
    let legs = 0;
    for (const r of routeMix({ routes: o.routes, nextHops: o.nextHops ?? 1000 })) {
      lines.push(batchLine(r));
      legs += r.hops.length;
    }
    const file = join(dir, 'routes.batch');
    writeFileSync(file, `${lines.join('\n')}\n`);
    lines.length = 0;

    await createNamespace(nsBatch);
    log(`ip -batch: ${String(o.routes)} routes (${String(legs)} legs) into ${nsBatch}`);
    const t0 = process.hrtime.bigint();
    const batch = await run('ip', ['-n', nsBatch, '-batch', file]);
    const batchMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (batch.code !== 0) throw new Error(`ip -batch failed: ${batch.stderr.trim().slice(0, 500)}`);
    const batchCount = await countKernelRoutes(nsBatch);
    log(`ip -batch: ${batchMs.toFixed(0)} ms, ${String(batchCount)} routes in the kernel`);

    await createNamespace(nsInstaller);
    log(`installer: ${String(o.routes)} routes into ${nsInstaller}`);
    const child = await run('ip', [
      'netns',
      'exec',
      nsInstaller,
      process.execPath,
      '--import',
      'tsx',
      CHILD,
      '--routes',
      String(o.routes),
      '--next-hops',
      String(o.nextHops ?? 1000),
      '--device',
      DEVICE,
    ]);
    if (child.code !== 0) throw new Error(`installer run failed: ${child.stderr.trim().slice(0, 2000)}`);
    const res = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Omit<
      KernelBenchResult['installer'],
      'kernelRoutes'
    >;
    const count = await countKernelRoutes(nsInstaller);
    log(
      `installer: ${res.ms.toFixed(0)} ms, ${String(count)} routes in the kernel, event-loop lag max ${res.lagMaxMs.toFixed(1)} ms p99 ${res.lagP99Ms.toFixed(1)} ms`,
    );
    const ratio = res.ms / batchMs;
    return {
      routes: o.routes,
      legs,
      ipBatch: { ms: batchMs, kernelRoutes: batchCount },
      installer: { ...res, kernelRoutes: count },
      ratio,
      targetsMet:
        count === o.routes &&
        batchCount === o.routes &&
        res.settled &&
        ratio <= 1.5 &&
        res.lagMaxMs <= 50,
    };
  } finally {
    await deleteNamespace(nsBatch);
    await deleteNamespace(nsInstaller);
    rmSync(dir, { recursive: true, force: true });
  }
}
