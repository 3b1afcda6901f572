/** Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self time. */

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

import { REPO_ROOT } from './procs.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface SelfTimeEntry {
  readonly fn: string;
  readonly where: string;
  readonly ms: number;
  /** Share of the non-idle samples. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly top: readonly SelfTimeEntry[];
}

function location(url: string, line: number): string {
  if (url === '') return '';
  let path = url.startsWith('file://') ? new URL(url).pathname : url;
  if (path.startsWith(REPO_ROOT)) path = relative(REPO_ROOT, path);
  // tsx-transpiled modules report line 0 for everything: the file alone is the useful part.
  return line > 0 ? `${path}:${String(line + 1)}` : path;
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const n = byId.get(id);
    if (n === undefined) return;
    const fn = n.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') idle += dt;
    if (fn === '(garbage collector)') gc += dt;
    const where = location(n.callFrame.url, n.callFrame.lineNumber);
    const key = `${fn}@${where}`;
    const e = self.get(key) ?? { fn, where, us: 0 };
    e.us += dt;
    self.set(key, e);
  });
  const busy = Math.max(1, total - idle);
  const top = [...self.values()]
    .filter((e) => e.fn !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ fn: e.fn, where: e.where, ms: e.us / 1000, share: e.us / busy }));
  return { file, totalMs: total / 1000, idleMs: idle / 1000, gcMs: gc / 1000, top };
}
