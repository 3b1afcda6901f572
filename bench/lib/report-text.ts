/** The result tables on stdout. */

import { relative } from 'node:path';

import type { FanoutResult } from './fanout-result.js';
import { fmtPct, textTable } from './format.js';
import { REPO_ROOT } from './procs.js';
import type { ProfileSummary } from './profile.js';
import { ratioTable } from './report-compare.js';
import { FANOUT_HEADER, GROUP_HEADER, fanoutRows, groupRows, modeLabel } from './report-fanout.js';
import {
  CLIENT_HEADER,
  SHRUNK_HEADER,
  STORM_HEADER,
  TABLE_HEADER,
  clientRows,
  shrunkRows,
  stormRows,
  tableRows,
  targets,
} from './report-targets.js';
import { fleetOf, type RunResults } from './results.js';

/** Fan-out runs grouped by fleet, in the order they ran. */
export function byFleet(rs: readonly FanoutResult[]): Map<string, FanoutResult[]> {
  const m = new Map<string, FanoutResult[]>();
  for (const f of rs) {
    const k = fleetOf(f);
    const list = m.get(k) ?? [];
    list.push(f);
    m.set(k, list);
  }
  return m;
}

export function printReport(r: RunResults): void {
  const out: string[] = [];
  for (const [fleet, runs] of byFleet(r.fanout)) {
    const f0 = runs[0];
    if (f0 === undefined) continue;
    out.push(
      `\nFan-out [${fleet}] ${f0.fleetLabel ?? `${String(f0.clients)} clients`}, batches of ${String(f0.batch)}, ${String(f0.workers)} generator processes`,
    );
    out.push(textTable(FANOUT_HEADER, fanoutRows(runs)));
    if (runs.some((f) => (f.groups?.length ?? 0) > 1 || f.groups?.[0]?.track === 'view')) {
      out.push(textTable(GROUP_HEADER, groupRows(runs)));
    }
    for (const f of runs) {
      if (Object.keys(f.serverLog).length > 0)
        out.push(`  ${f.server} ${modeLabel(f)} log: ${JSON.stringify(f.serverLog)}`);
    }
  }
  if ((r.storm ?? []).length > 0) {
    out.push('\nSnapshot storm');
    out.push(textTable(STORM_HEADER, stormRows(r)));
  }
  if ((r.clientSync ?? []).length > 0) {
    out.push('\nClient sync (default tsbond client and server)');
    out.push(textTable(CLIENT_HEADER, clientRows(r)));
  }
  if (r.table.length > 0) {
    out.push(`\nFull-table sync, memory, withdraw on disconnect`);
    out.push(textTable(TABLE_HEADER, tableRows(r.table)));
    const shrunk = shrunkRows(r.table);
    if (shrunk.length > 0) {
      out.push('\nWithdraw in the same server process after the other announcers left');
      out.push(textTable(SHRUNK_HEADER, shrunk));
    }
  }
  for (const [name, x] of Object.entries(r.extra ?? {})) {
    out.push(
      `\n${x.title ?? name} (${name})` +
        (x.skipped === undefined ? '' : `: not measured: ${x.skipped}`) +
        (x.ok ? '' : ` FAILED: ${x.problems.join('; ')}`),
    );
    if (x.figures.length > 0) {
      out.push(
        textTable(
          ['figure', 'value', 'target'],
          x.figures.map((f) => [
            f.figure,
            f.value,
            f.target === undefined
              ? ''
              : `${f.target}${f.notMeasured !== undefined ? ' (not measured)' : f.met === undefined ? '' : f.met ? ' (met)' : ' (NOT met)'}`,
          ]),
        ),
      );
    }
  }
  const rt = ratioTable(r);
  if (rt.rows.length > 0) {
    out.push('\nComparison (ratio = tsbond / other)');
    out.push(textTable(rt.header, rt.rows));
  }
  const tg = targets(r);
  if (tg.length > 0 && !r.smoke) {
    out.push('\nTargets');
    out.push(
      textTable(
        ['target', 'measured', 'status'],
        tg.map((t) => [t.target, t.measured, t.status]),
      ),
    );
  }
  if (r.profile !== undefined) out.push(`\n${profileText(r.profile)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function profileText(p: ProfileSummary): string {
  const busy = p.totalMs - p.idleMs;
  return [
    `CPU profile of the tsbond server under unpaced fan-out (${relative(REPO_ROOT, p.file)}):`,
    `busy ${busy.toFixed(0)} ms of ${p.totalMs.toFixed(0)} ms sampled, GC ${p.gcMs.toFixed(0)} ms; top self time:`,
    textTable(
      ['self ms', 'share', 'function', 'where'],
      p.top.map((e) => [e.ms.toFixed(0), fmtPct(e.share), e.fn, e.where]),
    ),
  ].join('\n');
}
