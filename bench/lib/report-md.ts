/**
 * BENCHMARKS.md, generated from a run's results JSON, and its chart (bench/results/chart.svg).
 * A hand-written block between `<!-- keep -->` and `<!-- /keep -->` survives regeneration.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { chartPanels, svgChart } from './chart.js';
import type { FanoutResult } from './fanout-result.js';
import { fmtBytes, fmtPct, mdTable } from './format.js';
import { REPO_ROOT } from './procs.js';
import { ratioTable } from './report-compare.js';
import { FANOUT_HEADER, GROUP_HEADER, fanoutRows, groupRows, modeLabel } from './report-fanout.js';
import {
  CLIENT_HEADER,
  SHRUNK_HEADER,
  STORM_HEADER,
  TABLE_HEADER,
  TARGET_HEADER,
  clientRows,
  shrunkRows,
  stormRows,
  tableRows,
  targetCells,
  targets,
} from './report-targets.js';
import { byFleet } from './report-text.js';
import { flagsText, type RunResults } from './results.js';
import { SERVER_LABEL } from './servers.js';

/** Where the chart goes (committed, linked from BENCHMARKS.md). */
export const CHART_FILE = join(REPO_ROOT, 'bench', 'results', 'chart.svg');

/** Log messages that say why sessions ended (shown before the cleanup noise that follows). */
const IMPORTANT = /timed out|too many|panic|incompatible|wrong state|slow consumer|deserialize/i;

function notesOf(rs: readonly FanoutResult[]): string[] {
  return rs
    .filter((f) => f.problems.length > 0 || Object.keys(f.serverLog).length > 0)
    .map((f) => {
      const log = Object.entries(f.serverLog)
        .sort(([a], [b]) => Number(IMPORTANT.test(b)) - Number(IMPORTANT.test(a)))
        .slice(0, 4)
        .map(([k, n]) => `"${k}" x${String(n)}`)
        .join(', ');
      return (
        `- ${SERVER_LABEL[f.server]}, ${modeLabel(f)}: ${[...f.problems, log === '' ? '' : `log: ${log}`].filter((x) => x !== '').join('; ')}` +
        (f.lostReasons.length > 0
          ? `; first lost sessions: ${f.lostReasons.slice(0, 3).join(' | ')}`
          : '')
      );
    });
}

const FLEET_TEXT: Record<string, { title: string; text: string; command: string }> = {
  tsbond: {
    title: '1. Fan-out between default tsbond peers',
    text:
      'Every generator client announces REASSEMBLY in its HELLO (field 1000 = 1), as a default tsbond peer does, ' +
      'so a default tsbond server writes to all of them at full speed (Go MetalBond and rustbond ignore the field). ' +
      'Each client announces batches of routes (10.{client}.{i>>8}.{i&255}/32 via 2001:db8::{client}) and withdraws ' +
      'them; every update must reach the other clients exactly: expected = sent x (clients - 1), counted after ' +
      'draining. Paced rungs (the rate is the sum over all clients of updates sent) run ascending; a failing rung is ' +
      're-run once, the ladder is extended (x2) until a server fails, and two bisection runs narrow its capacity. ' +
      'Then the unpaced runs (as fast as the sockets take them, honouring back-pressure) alternate between the ' +
      'servers, the same number for each; the medians are compared. The forwarder is the ceiling: a do-nothing ' +
      'process that forwards every UPDATE byte for byte to every other connection, with one gathered write per ' +
      'socket per event-loop turn (as cheap in writes as the server). CPU is user+system time from ' +
      '/proc/PID/stat per wall second (100% = one core).',
    command: 'fanout --server tsbond,go,rust,forwarder --repeat 9',
  },
  legacy: {
    title: '1. Fan-out (older run: pacing off, clients without field 1000)',
    text:
      'Measured before the tsbond extensions: the generator clients sent no field 1000 and the tsbond server ran ' +
      'with pacing off (`--no-pacing`, not the default).',
    command: 'fanout --server tsbond,go,rust,forwarder',
  },
  plain: {
    title: '2. Fan-out towards peers without the features (Go-compatible mode)',
    text:
      'No generator client sends field 1000, so the server treats every one as a Go MetalBond peer and paces its ' +
      'writes to each at the default 512 KiB/s. A paced peer that falls behind is served from a backlog of route ' +
      'keys: it may miss an ADD/REMOVE pair of a route that came and went meanwhile, never gets a duplicate, and ' +
      'ends with the exact table. Each receiver keeps its exact view (checked: no ADD of a present route, no REMOVE ' +
      'of an absent one, empty at the end once the publishers withdrew everything). "Delivered / every update" is ' +
      'the share of all updates that reached them; below 100% the backlog coalesced. The ladder stops at the first ' +
      'rate where not every update reaches every peer.',
    command: 'fanout --fleet plain --fleet-repeat 3',
  },
  mixed: {
    title: '3. Fan-out in a mixed fleet',
    text:
      'Most clients announce REASSEMBLY (written to at full speed, counted exactly), a few send no field 1000 ' +
      '(paced, exact views checked as above): what a deployment mixing tsbond and Go MetalBond peers gets.',
    command: 'fanout --fleet mixed --fleet-repeat 3',
  },
  'one-paced-baseline': {
    title: '4. One paced subscriber (issue 10 (b))',
    text:
      'All clients but one announce REASSEMBLY and publish unpaced; the last one only subscribes. Baseline: it ' +
      'announces REASSEMBLY too. Paced: it sends no field 1000, so the server paces it at its default 512 KiB/s; its exact ' +
      'view is kept and checked (no duplicate ADD, no REMOVE of an absent route, empty at the end), and the run ' +
      "waits for it to drain. Compared: the publishers' delivered updates/s, medians of the alternating runs.",
    command: 'paced-one --paced-repeat 3',
  },
};
FLEET_TEXT['one-paced'] = FLEET_TEXT['one-paced-baseline'] ?? { title: '', text: '', command: '' };

const RUN = 'node --import tsx bench/run.ts';

/** Commands with their comments aligned. */
function aligned(rows: readonly (readonly [string, string])[]): string[] {
  const w = Math.max(...rows.map(([c]) => c.length));
  return rows.map(([c, note]) => `${c.padEnd(w)}  # ${note}`);
}

export async function writeMarkdown(r: RunResults, file: string, jsonFile: string): Promise<void> {
  const m = r.machine;
  const flags = r.serverFlags;
  const flagNote =
    flags === undefined
      ? 'This run predates recorded flags: its tsbond server ran with pacing off (`--no-pacing`, not the default).'
      : flags.length === 0
        ? 'The tsbond server ran with its default flags (`tsbond server` with no flag) for every figure, unless a row says otherwise.'
        : `The tsbond server ran with \`${flags.join(' ')}\` (NOT the defaults).`;
  const flagArg =
    flags === undefined || flags.length === 0 ? '' : ` --server-flags "${flags.join(' ')}"`;
  const lines: string[] = [];
  lines.push('# tsbond benchmarks', '');
  const parts = r.parts;
  if (parts !== undefined && parts.length > 1) {
    lines.push(
      'Generated by `bench/run.ts report ... --markdown` (see bench/README.md for the method) from ' +
        `\`${relative(REPO_ROOT, jsonFile)}\`, which merges ${String(parts.length)} runs made one ` +
        'after the other on the machine below, each benchmark taken from the run that measured it, ' +
        'with the same load generator for every server. ' +
        flagNote,
      '',
      mdTable(
        ['run', 'started', 'minutes', 'tsbond commit', 'command'],
        parts.map((p, i) => [
          String(i + 1),
          p.startedAt,
          p.durationS === undefined ? 'n/a' : (p.durationS / 60).toFixed(0),
          p.source,
          `\`${p.command}\``,
        ]),
      ),
      '',
    );
  } else
    lines.push(
      'Generated by `npm run bench` (bench/run.ts; see bench/README.md for the method) from ' +
        `\`${relative(REPO_ROOT, jsonFile)}\`. Every figure was measured in that one run, on the machine below, ` +
        'with the same load generator for every server' +
        (r.durationS === undefined
          ? '. '
          : `; the run took ${(r.durationS / 60).toFixed(0)} minutes. `) +
        flagNote,
      '',
    );
  lines.push('## Machine', '');
  lines.push(
    mdTable(
      ['', ''],
      [
        ['CPU', `${m.cpuModel}, ${String(m.nproc)} cores (nproc)`],
        ['memory', fmtBytes(m.memoryBytes)],
        ['kernel', m.kernel],
        ['Node.js', m.node],
        ['Go', m.go],
        ['Rust', m.rust],
        ['tsbond measured', m.source],
        ['run started', r.startedAt],
      ],
    ),
    '',
  );
  if (r.serverConfig !== undefined) {
    lines.push(
      `The tsbond server's configuration as it resolved it (\`tsbond server\` with ${flags === undefined || flags.length === 0 ? 'no flag' : `\`${flags.join(' ')}\``}):`,
      '',
      '```json',
      JSON.stringify(r.serverConfig),
      '```',
      '',
    );
  }
  lines.push('## Commands', '');
  lines.push(
    '```sh',
    'bash test/interop/build-peers.sh   # reference peers into .peers/ (npm run bench does this when they are missing)',
    r.command,
    '```',
    '',
    'Each part alone (the command of each figure is also in the targets table):',
    '',
    '```sh',
    ...aligned([
      [
        `${RUN} fanout --server tsbond,go,rust,forwarder --repeat 9${flagArg}`,
        '1: ladders, 9 unpaced runs each',
      ],
      [`${RUN} fanout --fleet plain,mixed --fleet-repeat 3${flagArg}`, '2, 3'],
      [`${RUN} paced-one --paced-repeat 3${flagArg}`, '4'],
      [`${RUN} storm${flagArg}`, '5'],
      [`${RUN} client-sync${flagArg}`, '6'],
      [`${RUN} sync memory withdraw --server tsbond,go,rust${flagArg}`, '7'],
      [`${RUN} --smoke`, 'CI: tiny sizes, correctness only'],
    ]),
    '```',
    '',
  );
  const panels = chartPanels(r);
  if (panels.length > 0) {
    mkdirSync(dirname(CHART_FILE), { recursive: true });
    writeFileSync(CHART_FILE, svgChart(panels));
    lines.push('## Chart', '');
    lines.push(`![benchmark chart](${relative(dirname(file), CHART_FILE)})`, '');
  }
  const tg = targets(r);
  if (tg.length > 0) {
    lines.push('## Targets (tsbond, this run)', '');
    lines.push(mdTable(TARGET_HEADER, targetCells(tg)), '');
  }
  const rt = ratioTable(r);
  if (rt.rows.length > 0) {
    lines.push('## Comparison with Go MetalBond and rustbond (ratio = tsbond / other)', '');
    lines.push(mdTable(rt.header, rt.rows), '');
  }
  const fleets = byFleet(r.fanout);
  const baseline = fleets.get('one-paced-baseline') ?? [];
  fleets.delete('one-paced-baseline');
  for (const [fleet, runs0] of fleets) {
    const runs = fleet === 'one-paced' ? [...baseline, ...runs0] : runs0;
    const t = FLEET_TEXT[fleet];
    const f0 = runs[0];
    if (t === undefined || f0 === undefined) continue;
    lines.push(`## ${t.title}`, '');
    lines.push(
      `${f0.fleetLabel ?? `${String(f0.clients)} clients`} on one VNI, batches of ${String(f0.batch)}, ` +
        `${String(f0.workers)} generator processes. ${t.text}`,
      '',
      `Command: \`${RUN} ${t.command}${flagArg}\`; tsbond server flags: ${flagsText(r.serverFlags ?? ['--no-pacing'])}.`,
      '',
    );
    lines.push(mdTable(FANOUT_HEADER, fanoutRows(runs)), '');
    if (runs.some((f) => (f.groups?.length ?? 0) > 1 || f.groups?.[0]?.track === 'view')) {
      lines.push('Per group of clients:', '', mdTable(GROUP_HEADER, groupRows(runs)), '');
    }
    if (fleet === 'tsbond' || fleet === 'legacy') {
      for (const x of r.skipped ?? []) lines.push(`- ${x}`);
      if ((r.skipped ?? []).length > 0) lines.push('');
    }
    const notes = notesOf(runs);
    if (notes.length > 0) lines.push(...notes, '');
  }
  if ((r.storm ?? []).length > 0) {
    lines.push('## 5. Snapshot storm (issue 10 (a))', '');
    lines.push(
      'A VNI of R routes is loaded on the server (5 announcers, which stay connected); then S subscribers (generator ' +
        'clients announcing REASSEMBLY) send SUBSCRIBE at the same moment. Each counts its ADDs and REMOVEs and keeps ' +
        'an order-independent checksum of the routes it received (count and two 32-bit sums of a hash of each ' +
        "route's bytes), compared with the loaded table's: a missing or duplicate route changes it. Times from the " +
        "SUBSCRIBEs to each subscriber's last route. Peak RSS: VmRSS of the server sampled every 20 ms and its " +
        'VmHWM, over its RSS after loading (after a full GC).',
      '',
      `Command: \`${RUN} storm${flagArg}\`.`,
      '',
    );
    lines.push(mdTable(STORM_HEADER, stormRows(r)), '');
  }
  if ((r.clientSync ?? []).length > 0) {
    lines.push('## 6. Client sync (issue 11)', '');
    lines.push(
      'A default `MetalBondClient` (default options, a handler that only counts) in its own process subscribes to a ' +
        'VNI loaded on a default tsbond server that has been up past its sync delay (15 s; SYNCED is held back ' +
        'before). Times from SUBSCRIBE to the last route handed to the handler, and to SYNCED (`waitSynced`); ' +
        'the table is loaded once and several clients (5 by default) subscribe one after the other, medians shown with every value. ' +
        "Memory: the client process's RSS and V8 heap after a full GC, minus the same before it connected, per route.",
      '',
      `Command: \`${RUN} client-sync${flagArg}\`.`,
      '',
    );
    lines.push(mdTable(CLIENT_HEADER, clientRows(r)), '');
  }
  if (r.table.length > 0) {
    lines.push('## 7. Full-table sync, memory, withdraw on disconnect', '');
    lines.push(
      'A fresh server per table size; one subscriber (the sentinel) is connected first; the table is loaded by ' +
        'the victim peer (its routes) and further announcers, in windows of frames each followed by a KEEPALIVE round trip. ' +
        'Memory: RSS (VmRSS, and for tsbond V8 heapUsed after a full GC) minus the value before any connection, ' +
        'divided by the routes. Sync: a new subscriber sends SUBSCRIBE; time until it has every route. Withdraw: the ' +
        'victim disconnects; time until the sentinel has every REMOVE. All generator clients announce `--features` ' +
        '(default REASSEMBLY: default tsbond peers; Go and rustbond ignore the field; older runs: none).',
      '',
      `Command: \`${RUN} sync memory withdraw --server tsbond,go,rust${flagArg}\`.`,
      '',
    );
    lines.push(mdTable(TABLE_HEADER, tableRows(r.table)), '');
    const shrunk = shrunkRows(r.table);
    if (shrunk.length > 0) {
      lines.push(
        'Withdraw again in the same server process, after the other announcers left (the table then holds the ' +
          "victim's routes only; the victim reconnects and announces them again before each run):",
        '',
      );
      lines.push(mdTable(SHRUNK_HEADER, shrunk), '');
    }
  }
  for (const [name, x] of Object.entries(r.extra ?? {})) {
    lines.push(`## ${x.title ?? name}`, '');
    if (x.skipped !== undefined) lines.push(`Not measured: ${x.skipped}.`, '');
    if (x.markdown !== undefined) lines.push(x.markdown, '');
    else if (x.figures.length > 0) {
      lines.push(
        mdTable(
          ['figure', 'value', 'target', 'command', 'server flags'],
          x.figures.map((f) => [
            f.figure,
            f.value,
            f.target === undefined
              ? ''
              : `${f.target}: ${f.notMeasured !== undefined ? 'not measured' : f.met === true ? 'met' : f.met === false ? 'not met' : ''}`,
            f.command === undefined ? '' : `\`${f.command}\``,
            f.defaults === false ? 'non-default' : 'defaults',
          ]),
        ),
        '',
      );
    }
    if (!x.ok) lines.push(`FAILED: ${x.problems.join('; ')}`, '');
  }
  if (r.profile !== undefined) {
    const p = r.profile;
    lines.push('## CPU profile of the tsbond server under unpaced fan-out', '');
    lines.push(
      `\`node --cpu-prof\` on the server process during an unpaced fan-out run (\`${relative(REPO_ROOT, p.file)}\`, not committed). ` +
        `Busy ${(p.totalMs - p.idleMs).toFixed(0)} ms of ${p.totalMs.toFixed(0)} ms sampled; GC ${p.gcMs.toFixed(0)} ms. Top self time:`,
      '',
    );
    lines.push(
      mdTable(
        ['self ms', 'share of busy', 'function', 'where'],
        p.top
          .slice(0, 20)
          .map((e) => [
            e.ms.toFixed(0),
            fmtPct(e.share),
            `\`${e.fn}\``,
            e.where === '' ? '' : `\`${e.where}\``,
          ]),
      ),
      '',
    );
  }
  if ((r.sections ?? []).length > 0) {
    lines.push('## Time per part of the run', '');
    lines.push(
      mdTable(
        ['part', 'minutes'],
        (r.sections ?? []).map((s) => [s.name, (s.seconds / 60).toFixed(1)]),
      ),
      '',
    );
  }
  const keep = /<!-- keep -->[\s\S]*?<!-- \/keep -->/.exec(
    existsSync(file) ? readFileSync(file, 'utf8') : '',
  );
  lines.push(
    '## Notes',
    '',
    keep?.[0] ??
      '<!-- keep -->\n\n(Hand-written notes here are kept when the file is regenerated.)\n\n<!-- /keep -->',
    '',
  );
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(
    file,
    await prettier.format(`${lines.join('\n')}\n`, { ...options, parser: 'markdown' }),
  );
}
