/** The smoke run's verdict (CI): tsbond and the forwarder (the generator itself) must be exact. */

import { fleetOf, type RunResults } from './results.js';
import type { ServerKind } from './servers.js';

export function smokeVerdict(r: RunResults): number {
  const strict = (k: ServerKind): boolean => k === 'tsbond' || k === 'forwarder';
  const failures: string[] = [];
  const warnings: string[] = [];
  for (const f of r.fanout) {
    if (f.ok) continue;
    const msg = `fanout ${f.server} [${fleetOf(f)}] ${f.mode}: ${f.problems.join('; ')}`;
    (strict(f.server) ? failures : warnings).push(msg);
  }
  for (const t of r.table) {
    if (t.ok) continue;
    const msg = `table ${t.server} ${String(t.routes)}: ${t.problems.join('; ')}`;
    (strict(t.server) ? failures : warnings).push(msg);
  }
  for (const s of r.storm ?? []) {
    if (!s.ok) failures.push(`storm: ${[...s.problems, ...s.failures.slice(0, 3)].join('; ')}`);
  }
  for (const c of r.clientSync ?? []) {
    if (!c.ok) failures.push(`client-sync: ${c.problems.join('; ')}`);
  }
  const notRun: string[] = [];
  for (const [name, x] of Object.entries(r.extra ?? {})) {
    if (!x.ok) failures.push(`${name}: ${x.problems.join('; ')}`);
    if (x.skipped !== undefined) notRun.push(`${name}: ${x.skipped}`);
    for (const f of x.figures) {
      if (f.notMeasured !== undefined) notRun.push(`${name}, ${f.figure}: ${f.notMeasured}`);
    }
  }
  for (const n of notRun) process.stdout.write(`smoke: NOT RUN (not asserted) ${n}\n`);
  for (const w of warnings)
    process.stdout.write(`smoke: reference peer problem (not asserted): ${w}\n`);
  for (const f of failures) process.stdout.write(`smoke: FAIL ${f}\n`);
  if (failures.length > 0) return 1;
  const ts = r.fanout.filter((f) => f.server === 'tsbond');
  process.stdout.write(
    `smoke: OK (tsbond: ${String(ts.length)} fan-out runs exact (counts or views), ` +
      `${String(r.table.filter((t) => t.server === 'tsbond').length)} table runs fully synced and withdrawn, ` +
      `${String((r.storm ?? []).length)} storm and ${String((r.clientSync ?? []).length)} client-sync runs exact` +
      (Object.keys(r.extra ?? {}).length > 0
        ? `, extra: ${Object.keys(r.extra ?? {}).join(', ')}`
        : '') +
      (notRun.length > 0 ? ` (${String(notRun.length)} part(s) not run, listed above)` : '') +
      '; ' +
      `${((r.durationS ?? 0) / 60).toFixed(1)} min)\n`,
  );
  return 0;
}
