/**
 * Child processes of a benchmark run: every process started is registered here and killed when
 * the run ends, fails or is interrupted. Also reads CPU time and RSS of processes from /proc.
 */

import { fork, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const children = new Set<ChildProcess>();
let handlersInstalled = false;

/** Repository root (bench/lib/../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

/** Kills every child on exit, SIGINT, SIGTERM and uncaught errors. Idempotent. */
export function installCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n[bench] ${sig}: stopping every process started\n`);
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('uncaughtException', (e) => {
    process.stderr.write(`[bench] fatal: ${e.stack ?? e.message}\n`);
    killAll();
    process.exit(1);
  });
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => {
    children.delete(c);
  });
  return c;
}

/**
 * Node flags for profiling the bench's own processes: with TSBOND_BENCH_CPU_PROF=DIR every
 * TypeScript process forked (servers, clients, workers) writes a V8 CPU profile into DIR.
 */
function profileFlags(): string[] {
  const dir = process.env.TSBOND_BENCH_CPU_PROF;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** Forks a TypeScript script of this repo (run through tsx) with an IPC channel. */
export function forkTs(
  script: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
  stdio: SpawnOptions['stdio'] = ['ignore', 'inherit', 'inherit', 'ipc'],
): ChildProcess {
  return track(
    fork(`${REPO_ROOT}${script}`, [...args], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx', ...nodeFlags, ...profileFlags()],
      stdio,
    }),
  );
}

export function spawnTracked(
  cmd: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  return track(spawn(cmd, [...args], { cwd: REPO_ROOT, ...options }));
}

/** Waits for a child to exit; SIGKILLs it after `ms`. */
export async function waitExit(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
    }, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** A free TCP port on `host` (bound and released; the usual small race is accepted). */
export async function freePort(host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

const CLK_TCK = 100;

/** User + system CPU seconds of a process (all threads), or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state(3) ... utime(14) stime(15), i.e. indexes 11 and 12 here.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'latin1'));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM (peak RSS since the process started) in bytes, or undefined when gone. */
export function procRss(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${String(pid)}/status`, 'latin1');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    if (rss === undefined || hwm === undefined) return undefined;
    return { rss: Number(rss) * 1024, hwm: Number(hwm) * 1024 };
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
export function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU seconds used by a set of processes between two points in time. */
export class CpuMeter {
  private readonly start = new Map<number, number>();
  private readonly machine0 = machineJiffies();
  private readonly t0 = performance.now();

  constructor(private readonly pids: Readonly<Record<string, readonly number[]>>) {
    for (const list of Object.values(pids)) {
      for (const pid of list) this.start.set(pid, cpuSeconds(pid) ?? 0);
    }
  }

  /** Per group: CPU seconds used and the share of one core over the wall time. */
  read(): {
    wallSeconds: number;
    groups: Record<string, { cpuSeconds: number; coreShare: number }>;
    machineBusyShare: number;
  } {
    const wall = (performance.now() - this.t0) / 1000;
    const groups: Record<string, { cpuSeconds: number; coreShare: number }> = {};
    for (const [name, list] of Object.entries(this.pids)) {
      let s = 0;
      for (const pid of list) s += Math.max(0, (cpuSeconds(pid) ?? 0) - (this.start.get(pid) ?? 0));
      groups[name] = { cpuSeconds: s, coreShare: wall > 0 ? s / wall : 0 };
    }
    const m = machineJiffies();
    const busy = m.busy - this.machine0.busy;
    const total = m.total - this.machine0.total;
    return { wallSeconds: wall, groups, machineBusyShare: total > 0 ? busy / total : 0 };
  }
}

/** Share of all cores busy over the next `ms` (whole machine). */
export async function machineBusyOver(ms: number): Promise<number> {
  const a = machineJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineJiffies();
  const total = b.total - a.total;
  return total > 0 ? (b.busy - a.busy) / total : 0;
}
