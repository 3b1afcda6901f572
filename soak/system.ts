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
 * Every process of the run (server, workers) inherits this process's file limit: when it is too
 * low, re-run this script under `prlimit --nofile=N:N` (root may raise the hard limit too), or
 * `bash -c 'ulimit -n N'` where prlimit is missing.
 */
export function ensureFileLimit(
  needed: number,
  log: (msg: string) => void,
  usage: (msg: string) => never,
): void {
  const { soft, hard } = nofile();
  if (soft >= needed) return;
  if (process.env.TSBOND_SOAK_REEXEC === '1') {
    usage(
      `open file limit ${String(soft)} below the ${String(needed)} this run needs (could not raise it)`,
    );
  }
  const root = process.getuid?.() === 0;
  const n = root ? Math.max(needed, 65_536) : Math.min(hard, Math.max(needed, 65_536));
  const args = [...process.execArgv, process.argv[1] ?? '', ...process.argv.slice(2)];
  const env = { ...process.env, TSBOND_SOAK_REEXEC: '1' };
  log(`raising the open file limit from ${String(soft)} to ${String(n)} (re-exec)`);
  let r = spawnSync(
    'prlimit',
    [`--nofile=${String(n)}:${String(n)}`, '--', process.execPath, ...args],
    {
      stdio: 'inherit',
      env,
    },
  );
  if (r.error !== undefined) {
    const quoted = [process.execPath, ...args]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(' ');
    r = spawnSync('bash', ['-c', `ulimit -n ${String(n)} && exec ${quoted}`], {
      stdio: 'inherit',
      env,
    });
  }
  process.exit(r.status ?? 1);
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
