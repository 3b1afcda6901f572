/**
 * Kernel route benchmark (issue 12): the time KernelRouteInstaller needs to have a route mix in
 * the kernel, against `ip -batch` installing the same routes (the reference ceiling: one request
 * at a time, no event loop), both in network namespaces of their own created for the run, with a
 * veth device standing in for the ip6tnl tunnel. The routes in each namespace are counted after.
 * Needs root and iproute2.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { routeMix, type MixRoute } from './kernel-mix.js';

export interface KernelBenchOptions {
  /** Kernel routes (prefixes) in the mix. */
  readonly routes: number;
  /** Distinct next hops. Default 1000. */
  readonly nextHops?: number;
  /** Also time `ip -batch` with inline legs (Go's form; slow, superlinear for IPv4). Default:
   * only up to 100,000 routes. */
  readonly inlineReference?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface KernelBenchResult {
  readonly routes: number;
  /** Handler calls (one per leg). */
  readonly legs: number;
  /** `ip -batch` with the installer's form (nexthop objects): the reference ceiling. */
  readonly ipBatch: { readonly ms: number; readonly cpuMs: number; readonly kernelRoutes: number };
  /** `ip -batch` with inline multipath legs, for comparison (when measured). */
  readonly inlineBatch:
    { readonly ms: number; readonly cpuMs: number; readonly kernelRoutes: number } | undefined;
  readonly installer: {
    readonly ms: number;
    /** CPU time (user + system) of the installer process while it worked. */
    readonly cpuMs: number;
    readonly kernelRoutes: number;
    readonly lagMaxMs: number;
    readonly lagP99Ms: number;
    readonly lagMeanMs: number;
    readonly settled: boolean;
    readonly counters: unknown;
  };
  /** installer.ms / ipBatch.ms (target <= 1.5). */
  readonly ratio: number;
  /** installer.cpuMs / ipBatch.cpuMs: the same comparison, less sensitive to a busy machine. */
  readonly cpuRatio: number;
  /** Load average (1 min) before the run: other work on the machine skews wall times. */
  readonly loadBefore: number;
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

/**
 * Deletes a namespace, its routes and nexthop objects first: torn down with them, the kernel
 * removes each object with a walk over the whole routing table (quadratic, minutes to hours at a
 * million routes, holding the rtnl lock the whole machine needs meanwhile). The routes go one by
 * one from `delFile` (`ip route flush` cannot delete a route with a nexthop group: iproute2 6.1
 * sends its legs back with its nhid, which the kernel refuses, and stops there); the flushes
 * after it only sweep what is left.
 */
async function deleteNamespace(name: string, delFile: string): Promise<void> {
  const exists = await run('ip', ['netns', 'pids', name]);
  if (exists.code !== 0) return;
  await run('ip', ['-n', name, '-force', '-batch', delFile]);
  for (const family of ['-4', '-6']) {
    await run('ip', ['-n', name, family, 'route', 'flush', 'table', 'all', 'proto', '254']);
  }
  await run('ip', ['-n', name, 'nexthop', 'flush']);
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

/**
 * `ip -batch` input for the mix in the form the installer writes: one IPv6 nexthop object per next
 * hop (run with `ip -6 -batch`: a batch line cannot choose the family), then one group per distinct
 * set of 2+ next hops and the routes using them (`ip -batch`).
 */
export function batchFiles(mix: Iterable<MixRoute>): {
  hops: string[];
  rest: string[];
  legs: number;
} {
  const hopIds = new Map<string, number>();
  const groupIds = new Map<string, number>();
  const hops: string[] = [];
  const groups: string[] = [];
  const routes: string[] = [];
  let legs = 0;
  const hopId = (h: string): number => {
    let id = hopIds.get(h);
    if (id === undefined) {
      id = hopIds.size + 1;
      hopIds.set(h, id);
      hops.push(`nexthop add id ${String(id)} proto 254 encap ip6 dst ${h} dev ${DEVICE}`);
    }
    return id;
  };
  for (const r of mix) {
    legs += r.hops.length;
    const ids = r.hops.map(hopId).sort((a, b) => a - b);
    let nhid = ids[0] ?? 0;
    if (ids.length > 1) {
      const key = ids.join('/');
      nhid = groupIds.get(key) ?? 0;
      if (nhid === 0) {
        nhid = 10_000_000 + groupIds.size;
        groupIds.set(key, nhid);
        groups.push(`nexthop add id ${String(nhid)} proto 254 group ${key}`);
      }
    }
    routes.push(
      `route replace ${r.prefix} table ${String(r.table)} proto 254 nhid ${String(nhid)}`,
    );
  }
  return { hops, rest: [...groups, ...routes], legs };
}

/** The same routes with inline multipath legs (Go MetalBond's form; IPv6 legs need a gateway). */
export function inlineBatchLine(r: MixRoute): string {
  const via = r.family === 6 ? 'via fe80::1 ' : '';
  const legs = [...r.hops]
    .sort()
    .map((h) => `nexthop ${via}encap ip6 dst ${h} dev ${DEVICE}`)
    .join(' ');
  return `route replace ${r.prefix} table ${String(r.table)} proto 254 ${legs}`;
}

/**
 * Waits until rtnetlink answers fast (a namespace deleted earlier, e.g. by a previous run, is torn
 * down in the background under the rtnl lock) : three `ip link show lo` in a row under 50 ms, or
 * two minutes.
 */
async function waitRtnlQuiet(log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  let fast = 0;
  let said = false;
  while (fast < 3 && Date.now() < deadline) {
    const t0 = Date.now();
    await run('ip', ['link', 'show', 'lo']);
    if (Date.now() - t0 < 50) fast++;
    else {
      fast = 0;
      if (!said) log('waiting for the kernel to finish tearing down earlier namespaces');
      said = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Wall time and CPU time (user + system, ip's own) of `ip -batch` runs, ms. */
async function timeIpBatch(
  ns: string,
  steps: { file: string; family: string[] }[],
): Promise<{ ms: number; cpuMs: number }> {
  let ms = 0;
  let cpuMs = 0;
  for (const step of steps) {
    // bash's `time` reports the child's CPU time (wait4 rusage).
    const r = await run('bash', [
      '-c',
      'TIMEFORMAT="%3R %3U %3S"; time ip -n "$1" $2 -batch "$3"',
      'bash',
      ns,
      step.family.join(' '),
      step.file,
    ]);
    if (r.code !== 0) throw new Error(`ip -batch failed: ${r.stderr.trim().slice(0, 500)}`);
    const [real = 0, user = 0, sys = 0] = (r.stderr.trim().split('\n').pop() ?? '')
      .split(' ')
      .map(Number);
    ms += real * 1000;
    cpuMs += (user + sys) * 1000;
  }
  return { ms, cpuMs };
}

export async function runKernelBench(o: KernelBenchOptions): Promise<KernelBenchResult> {
  const log = o.log ?? (() => undefined);
  if (process.getuid?.() !== 0)
    throw new Error('the kernel benchmark needs root (network namespaces)');
  const tag = `${String(process.pid)}-${String(Date.now() % 100000)}`;
  const nsBatch = `tsbond-kb-${tag}-ip`;
  const nsInline = `tsbond-kb-${tag}-il`;
  const nsInstaller = `tsbond-kb-${tag}-ts`;
  const dir = mkdtempSync(join(tmpdir(), 'tsbond-kbench-'));
  const delFile = join(dir, 'delete.batch');
  const mix = (): Iterable<MixRoute> =>
    routeMix({ routes: o.routes, nextHops: o.nextHops ?? 1000 });
  try {
    const files = batchFiles(mix());
    const hopsFile = join(dir, 'hops.batch');
    const restFile = join(dir, 'routes.batch');
    writeFileSync(hopsFile, `${files.hops.join('\n')}\n`);
    writeFileSync(restFile, `${files.rest.join('\n')}\n`);
    writeFileSync(
      delFile,
      `${[...mix()].map((r) => `route del ${r.prefix} table ${String(r.table)} proto 254`).join('\n')}\n`,
    );

    // Namespaces are deleted only at the end: the kernel tears a deleted one down in the
    // background, holding the rtnl lock, which would slow the next measurement down.
    await waitRtnlQuiet(log);
    const loadBefore = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    await createNamespace(nsBatch);
    log(`ip -batch: ${String(o.routes)} routes (${String(files.legs)} legs) into ${nsBatch}`);
    const batch = await timeIpBatch(nsBatch, [
      { file: hopsFile, family: ['-6'] },
      { file: restFile, family: [] },
    ]);
    const batchMs = batch.ms;
    const batchCount = await countKernelRoutes(nsBatch);
    log(
      `ip -batch: ${batchMs.toFixed(0)} ms (CPU ${batch.cpuMs.toFixed(0)} ms), ${String(batchCount)} routes in the kernel`,
    );

    let inline: KernelBenchResult['inlineBatch'];
    if (o.inlineReference ?? o.routes <= 100_000) {
      const inlineFile = join(dir, 'inline.batch');
      writeFileSync(inlineFile, `${[...mix()].map(inlineBatchLine).join('\n')}\n`);
      await createNamespace(nsInline);
      const { ms, cpuMs } = await timeIpBatch(nsInline, [{ file: inlineFile, family: [] }]);
      inline = { ms, cpuMs, kernelRoutes: await countKernelRoutes(nsInline) };
      log(
        `ip -batch, inline legs (Go's form): ${ms.toFixed(0)} ms, ${String(inline.kernelRoutes)} routes`,
      );
      await deleteNamespace(nsInline, delFile);
    }

    await createNamespace(nsInstaller);
    log(`installer: ${String(o.routes)} routes into ${nsInstaller}`);
    const child = await run('ip', [
      'netns',
      'exec',
      nsInstaller,
      process.execPath,
      '--expose-gc',
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
    if (child.code !== 0)
      throw new Error(`installer run failed: ${child.stderr.trim().slice(0, 2000)}`);
    const res = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Omit<
      KernelBenchResult['installer'],
      'kernelRoutes'
    >;
    const count = await countKernelRoutes(nsInstaller);
    log(
      `installer: ${res.ms.toFixed(0)} ms (CPU ${res.cpuMs.toFixed(0)} ms), ${String(count)} routes in the kernel, event-loop lag max ${res.lagMaxMs.toFixed(1)} ms p99 ${res.lagP99Ms.toFixed(1)} ms`,
    );
    const ratio = res.ms / batchMs;
    return {
      cpuRatio: res.cpuMs / batch.cpuMs,
      loadBefore,
      routes: o.routes,
      legs: files.legs,
      ipBatch: { ms: batchMs, cpuMs: batch.cpuMs, kernelRoutes: batchCount },
      inlineBatch: inline,
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
    await deleteNamespace(nsBatch, delFile);
    await deleteNamespace(nsInline, delFile);
    await deleteNamespace(nsInstaller, delFile);
    rmSync(dir, { recursive: true, force: true });
  }
}
