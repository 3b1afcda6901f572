/** What the soak needs from the system: the open-file limit, the kernel's listen-queue counters. */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function nofile(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  const n = (s: string | undefined): number =>
    s === undefined || s === 'unlimited' ? Infinity : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * Every process of the run (server, workers) inherits this process's file limit (Node already
 * raised its soft limit to the hard one). When that is too low, re-run this script under
 * `prlimit --nofile=N:N` (raising the hard limit needs CAP_SYS_RESOURCE, which root usually
 * has), or `bash -c 'ulimit -n N'` where prlimit is missing; the first limit that can be set is
 * used. Exits with a usage error when none can.
 */
export function ensureFileLimit(
  needed: number,
  log: (msg: string) => void,
  usage: (msg: string) => never,
): void {
  const { soft, hard } = nofile();
  if (soft >= needed) return;
  const why = `the open file limit is ${String(soft)} (hard ${String(hard)}), this run needs ${String(needed)}`;
  if (process.env.TSBOND_SOAK_REEXEC === '1') usage(`${why} (could not raise it)`);
  const args = [...process.execArgv, process.argv[1] ?? '', ...process.argv.slice(2)];
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const env = { ...process.env, TSBOND_SOAK_REEXEC: '1' };
  for (const n of [Math.max(needed, 65_536), needed]) {
    const limit = `--nofile=${String(n)}:${String(n)}`;
    if (spawnSync('prlimit', [limit, '--', 'true']).status === 0) {
      log(`${why}: re-running under prlimit ${limit}`);
      const r = spawnSync('prlimit', [limit, '--', process.execPath, ...args], {
        stdio: 'inherit',
        env,
      });
      process.exit(r.status ?? 1);
    }
    if (spawnSync('bash', ['-c', `ulimit -n ${String(n)}`]).status === 0) {
      log(`${why}: re-running under ulimit -n ${String(n)}`);
      const r = spawnSync('bash', ['-c', `ulimit -n ${String(n)} && exec ${quoted}`], {
        stdio: 'inherit',
        env,
      });
      process.exit(r.status ?? 1);
    }
  }
  usage(`${why}, and it cannot be raised here (run as root, or raise the hard limit: ulimit -Hn)`);
}

/** Listen-queue counters of the kernel (this network namespace), from /proc/net/netstat. */
export function listenCounters(): Record<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'latin1').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = (lines[i] ?? '').split(/\s+/);
  const values = (lines[i + 1] ?? '').split(/\s+/);
  const out: Record<string, number> = {};
  for (const k of ['ListenOverflows', 'ListenDrops', 'TCPReqQFullDoCookies', 'TCPTimeouts']) {
    out[k] = Number(values[names.indexOf(k)] ?? 0);
  }
  return out;
}

export function delta(
  a: Record<string, number>,
  b: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(a)) out[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return out;
}
