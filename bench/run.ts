/**
 * tsbond benchmark suite. Runs the servers under test in their own processes and drives them with
 * load-generator worker processes (bench/worker.ts) speaking the raw protocol.
 *
 *   node --import tsx bench/run.ts                  everything, comparison mode (npm run bench):
 *                                                   tsbond, Go MetalBond, rustbond, forwarder;
 *                                                   writes bench/results/*.json, BENCHMARKS.md
 *                                                   and bench/results/chart.svg
 *   node --import tsx bench/run.ts fanout --server tsbond,rust,forwarder --repeat 9
 *   node --import tsx bench/run.ts storm paced-one client-sync
 *   node --import tsx bench/run.ts sync memory withdraw --server tsbond,go --routes 1000000
 *   node --import tsx bench/run.ts --smoke [--peers]  tiny sizes, correctness only (CI)
 *   node --import tsx bench/run.ts http-cost        the status page's cost (npm run bench:http)
 *   node --import tsx bench/run.ts fanout-tls       fan-out over mutual TLS beside plain TCP
 *
 * See --help (bench/lib/options.ts) for every option. Extra benchmark modules (kernel, HTTP
 * cost, ...) are wired below (EXTRA_MODULES).
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

import type { ExtraModule } from './lib/extra.js';
import { progress } from './lib/format.js';
import { httpCostModule } from './lib/http-cost.js';
import { kernelModule } from './lib/kernel-module.js';
import { machineInfo } from './lib/machine.js';
import { UsageError, helpText, parseOptions, type Options } from './lib/options.js';
import { REPO_ROOT, installCleanup } from './lib/procs.js';
import { printReport } from './lib/report-text.js';
import { writeMarkdown } from './lib/report-md.js';
import { mergeResults, type RunResults } from './lib/results.js';
import { smokeVerdict } from './lib/smoke.js';
import { runSuite } from './lib/suite.js';
import { SERVER_LABEL, peerAvailable, type ServerKind } from './lib/servers.js';
import { tlsFanoutModule } from './lib/tls-fanout.js';

/**
 * Extra benchmark modules (bench/lib/extra.ts: kernel route installation, HTTP cost, ...), in the
 * order they run after the built-in benchmarks.
 */
const EXTRA_MODULES: readonly ExtraModule[] = [httpCostModule, tlsFanoutModule, kernelModule];

let o: Options;
try {
  o = parseOptions(process.argv.slice(2), EXTRA_MODULES);
} catch (e) {
  if (e instanceof UsageError) {
    const msg = e.message;
    (msg === '' ? process.stdout : process.stderr).write(
      `${msg === '' ? '' : `${msg}\n\n`}${helpText(EXTRA_MODULES)}\n`,
    );
    process.exit(msg === '' ? 0 : 2);
  }
  throw e;
}

const mdFile = join(REPO_ROOT, 'BENCHMARKS.md');

// `report FILE.json`: the tables (and with --markdown BENCHMARKS.md and its chart) again from a
// saved run, without measuring anything.
if (o.report !== undefined) {
  const runs = o.report.files.map((file) => ({
    file: relative(REPO_ROOT, resolve(file)),
    r: JSON.parse(readFileSync(file, 'utf8')) as RunResults,
  }));
  let saved = runs[0]?.r as RunResults;
  let savedFile = resolve(o.report.files[0] ?? '');
  if (runs.length > 1) {
    saved = mergeResults(runs);
    savedFile = join(
      REPO_ROOT,
      'bench',
      'results',
      `merged-${saved.startedAt.replace(/[:.]/g, '-')}.json`,
    );
    writeFileSync(savedFile, `${JSON.stringify(saved, null, 2)}\n`);
    console.log(`merged ${String(runs.length)} runs into ${relative(REPO_ROOT, savedFile)}`);
  }
  printReport(saved);
  if (o.report.markdown) await writeMarkdown(saved, mdFile, savedFile);
  process.exit(0);
}

const deadline = setTimeout(() => {
  progress('bench', `--max-minutes ${String(o.maxMinutes)} reached: aborting`);
  process.exit(3);
}, o.maxMinutes * 60_000);
deadline.unref();

installCleanup();

function ensurePeers(): void {
  const missing = o.servers.filter((s) => !peerAvailable(s));
  if (missing.length === 0 || !o.build) return;
  progress(
    'bench',
    `building the reference peers (${missing.join(', ')}): test/interop/build-peers.sh`,
  );
  const which = missing.map((m) => (m === 'go' ? 'go' : 'rust'));
  execFileSync('bash', [join(REPO_ROOT, 'test/interop/build-peers.sh'), ...which], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function main(): Promise<number> {
  ensurePeers();
  const usable = o.servers.filter((s: ServerKind) => {
    if (peerAvailable(s)) return true;
    progress(
      'bench',
      `skipping ${SERVER_LABEL[s]}: binary not found (run test/interop/build-peers.sh)`,
    );
    return false;
  });
  const logDir = join(tmpdir(), `tsbond-bench-${String(process.pid)}`);
  const outDir = o.out ?? join(REPO_ROOT, 'bench', 'results');
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const suite = await runSuite(o, { usable, logDir, outDir, extra: EXTRA_MODULES });
  const results: RunResults = {
    startedAt,
    durationS: (performance.now() - t0) / 1000,
    sections: suite.sections,
    command: `node --import tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    smoke: o.smoke,
    options: { ...o, asked: [...o.asked] },
    serverFlags: o.serverFlags,
    serverConfig: suite.serverConfig,
    ...(o.compareFlags === undefined ? {} : { compareFlags: o.compareFlags }),
    fanout: suite.fanout,
    table: suite.table,
    storm: suite.storm,
    clientSync: suite.clientSync,
    extra: suite.extra,
    profile: suite.profile,
    skipped: suite.skipped,
  };
  const problems =
    [...results.fanout, ...results.table, ...suite.storm, ...suite.clientSync].some((x) => !x.ok) ||
    Object.values(suite.extra).some((x) => !x.ok);
  if (problems) progress('bench', `server logs kept in ${logDir}`);
  else rmSync(logDir, { recursive: true, force: true });

  printReport(results);
  progress('bench', `the run took ${((results.durationS ?? 0) / 60).toFixed(1)} min`);
  if (!o.smoke || o.out !== undefined) {
    mkdirSync(outDir, { recursive: true });
    const name = `${o.all ? 'comparison' : [...o.asked].join('-')}-${startedAt.replace(/[:.]/g, '-')}.json`;
    const file = join(outDir, name);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    progress('bench', `results written to ${file}`);
    if (o.markdown) {
      await writeMarkdown(results, mdFile, file);
      progress('bench', `wrote ${mdFile} and its chart`);
    }
  }
  return o.smoke ? smokeVerdict(results) : 0;
}

main().then(
  (code) => {
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(
      `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
