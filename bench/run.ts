/**
 * tsbond benchmark suite (issue 6). Runs the servers under test in their own processes and drives
 * them with load-generator worker processes (bench/worker.ts) speaking the raw protocol.
 *
 *   node --import tsx bench/run.ts                  everything, comparison mode (npm run bench):
 *                                                   tsbond, Go MetalBond, rustbond, forwarder;
 *                                                   writes bench/results/*.json and BENCHMARKS.md
 *   node --import tsx bench/run.ts fanout --server tsbond --clients 50 --duration 10
 *   node --import tsx bench/run.ts sync|memory|withdraw --server tsbond,go --routes 1000000
 *   node --import tsx bench/run.ts profile          tsbond under unpaced fan-out with --cpu-prof
 *   node --import tsx bench/run.ts --smoke [--peers]  a few seconds each, correctness only
 *
 * See --help for every option.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { runFanout, type FanoutResult } from './lib/fanout.js';
import { progress } from './lib/format.js';
import { machineInfo } from './lib/machine.js';
import { REPO_ROOT, installCleanup, machineBusyOver } from './lib/procs.js';
import { summarizeProfile, type ProfileSummary } from './lib/profile.js';
import { printReport, writeMarkdown, type RunResults } from './lib/report.js';
import { SERVER_KINDS, peerAvailable, startServer, type ServerKind } from './lib/servers.js';
import { runTable, type TableResult } from './lib/table.js';

const HELP = `usage: node --import tsx bench/run.ts [BENCHMARK...] [options]

BENCHMARK: fanout, sync, memory, withdraw, profile, all (default: all = comparison mode)
       or: report FILE.json [--markdown]   tables (and BENCHMARKS.md) again from a saved run

  --server LIST        servers: tsbond,go,rust,forwarder (default: tsbond; all four for 'all';
                       forwarder only runs fan-out)
  --clients N          fan-out clients (default 50, at most 255)
  --batch N            routes per announce batch (default 100)
  --duration S         fan-out publishing time per run, seconds (default 10)
  --rate LIST          fan-out target updates/s in, over all clients; 0 = unpaced
                       (default 5000,10000,25000,50000,200000,0; paced rates run ascending, stop
                       for a server at its first failure)
  --repeat N           run the unpaced fan-out of tsbond and the forwarder N times, alternating,
                       after the ladders; the median run of each is reported (default 3 for
                       'all', else 1: the ceiling varies by +-15% from run to run here)
  --workers N          load-generator processes (default 2)
  --cycle N            batches pre-built per client and replayed (default 64)
  --routes LIST        table sizes for sync/memory/withdraw (default 100000,1000000)
  --victim N           routes owned by the disconnecting peer (default 100000)
  --announcers N       announcers besides the victim (default 4)
  --window N           frames per load window, one KEEPALIVE round trip each (default 1000)
  --withdraw-runs N    withdraw measurements per table (the victim comes back in between);
                       the median is reported (default 9; smoke: 2)
  --withdraw-warmup N  withdraw runs before those, listed but not in the median (default 5;
                       smoke: 0): the first withdraws run cold code (tsbond: 55-85 ms falling
                       to a steady 16-30 ms over about five runs)
  --no-withdraw-shrink do not repeat the withdraw runs in the same server process after the
                       other announcers left (table = the victim's routes only)
  --keepalive S        keepalive offered by the generator and the servers (default 5)
  --smoke              seconds-long runs with small sizes; asserts correctness only
                       (100% delivery, all routes synced, all withdrawn); exit 1 otherwise
  --peers              smoke: also run Go MetalBond and rustbond (reported, not asserted)
  --profile            also profile tsbond (--cpu-prof) under unpaced fan-out
  --markdown / --no-markdown   write BENCHMARKS.md (default: only for 'all')
  --go-log-null        send the Go server's log (one info line per route) to /dev/null
                       instead of a file (its CLI has no way to turn it off)
  --no-build           do not run test/interop/build-peers.sh for missing peers
  --out DIR            result directory (default bench/results; smoke writes none unless given)
  --quiet S            before each run, wait up to S seconds for the machine to be idle
                       (< 15% busy over 1 s), since other work skews the figures (default 0)
  --max-minutes M      abort the whole run after M minutes (default 60)
  -h, --help`;

const BENCHMARKS = ['fanout', 'sync', 'memory', 'withdraw', 'profile', 'all', 'report'] as const;
type Benchmark = (typeof BENCHMARKS)[number];

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function numbers(name: string, s: string): number[] {
  return list(s).map((x) => {
    const n = Number(x.replace(/_/g, ''));
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: '${x}' is not a number >= 0`);
    return n;
  });
}

function int(name: string, s: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name} must be an integer >= ${String(min)}`);
  return n;
}

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    server: { type: 'string' },
    clients: { type: 'string', default: '50' },
    batch: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    rate: { type: 'string', default: '5000,10000,25000,50000,200000,0' },
    workers: { type: 'string', default: '2' },
    repeat: { type: 'string' },
    cycle: { type: 'string', default: '64' },
    routes: { type: 'string', default: '100000,1000000' },
    victim: { type: 'string', default: '100000' },
    announcers: { type: 'string', default: '4' },
    window: { type: 'string', default: '1000' },
    'withdraw-runs': { type: 'string', default: '9' },
    'withdraw-warmup': { type: 'string', default: '5' },
    'no-withdraw-shrink': { type: 'boolean', default: false },
    keepalive: { type: 'string', default: '5' },
    smoke: { type: 'boolean', default: false },
    peers: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    markdown: { type: 'boolean' },
    'no-markdown': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string' },
    quiet: { type: 'string', default: '0' },
    'go-log-null': { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (v.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

// `report FILE.json`: print the tables of a saved run again (and with --markdown rewrite
// BENCHMARKS.md from it), without measuring anything.
if (positionals[0] === 'report') {
  const file = positionals[1];
  if (file === undefined) {
    process.stderr.write('usage: node --import tsx bench/run.ts report FILE.json [--markdown]\n');
    process.exit(2);
  }
  const saved = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
  printReport(saved);
  if (v.markdown === true) {
    await writeMarkdown(saved, join(REPO_ROOT, 'BENCHMARKS.md'), resolve(file));
  }
  process.exit(0);
}

for (const p of positionals) {
  if (!(BENCHMARKS as readonly string[]).includes(p)) {
    process.stderr.write(`unknown benchmark '${p}'\n\n${HELP}\n`);
    process.exit(2);
  }
}
const asked = new Set<Benchmark>(positionals.length === 0 ? ['all'] : (positionals as Benchmark[]));
const all = asked.has('all');
const smoke = v.smoke;

const servers: ServerKind[] = (() => {
  if (v.server !== undefined) {
    const s = list(v.server);
    for (const x of s) {
      if (!(SERVER_KINDS as readonly string[]).includes(x))
        throw new Error(`unknown server '${x}'`);
    }
    return s as ServerKind[];
  }
  if (smoke) return v.peers ? ['tsbond', 'forwarder', 'go', 'rust'] : ['tsbond', 'forwarder'];
  return all ? ['tsbond', 'go', 'rust', 'forwarder'] : ['tsbond'];
})();

const keepalive = int('keepalive', v.keepalive, 1);
const fanoutOpts = {
  clients: smoke ? 6 : int('clients', v.clients, 2),
  batch: smoke ? 20 : int('batch', v.batch, 1),
  durationS: smoke ? 2 : Number(v.duration),
  workers: int('workers', v.workers, 1),
  cycle: smoke ? 4 : int('cycle', v.cycle, 1),
  vni: 100,
  keepalive,
  drainTimeoutS: 60,
};
const rates = smoke ? [2000, 0] : numbers('rate', v.rate);
const repeat = v.repeat !== undefined ? int('repeat', v.repeat, 1) : all && !smoke ? 3 : 1;
/** Servers whose unpaced fan-out is repeated (alternating) when repeat > 1. */
const REPEATED: readonly ServerKind[] = ['tsbond', 'forwarder'];
const tableSizes = smoke ? [20_000] : numbers('routes', v.routes);
const tableBase = {
  victimRoutes: smoke ? 5000 : int('victim', v.victim, 1),
  announcers: smoke ? 2 : int('announcers', v.announcers, 1),
  window: int('window', v.window, 1),
  withdrawRuns: smoke ? 2 : int('withdraw-runs', v['withdraw-runs'], 1),
  withdrawWarmup: smoke ? 0 : int('withdraw-warmup', v['withdraw-warmup'], 0),
  withdrawShrink: !v['no-withdraw-shrink'],
  vni: 100,
  keepalive,
  stepTimeoutS: smoke ? 60 : 300,
};

const doFanout = all || asked.has('fanout');
const doTable = all || asked.has('sync') || asked.has('memory') || asked.has('withdraw');
const doProfile = (all && !smoke) || asked.has('profile') || v.profile;
const writeMd = v['no-markdown'] ? false : (v.markdown ?? (all && !smoke));

const deadline = setTimeout(
  () => {
    progress('bench', `--max-minutes ${v['max-minutes']} reached: aborting`);
    process.exit(3);
  },
  Number(v['max-minutes']) * 60_000,
);
deadline.unref();

installCleanup();

function ensurePeers(): void {
  const missing = servers.filter((s) => !peerAvailable(s));
  if (missing.length === 0 || v['no-build']) return;
  progress(
    'bench',
    `building the reference peers (${missing.join(', ')}): test/interop/build-peers.sh`,
  );
  const which = missing.map((m) => (m === 'go' ? 'go' : 'rust'));
  execFileSync('bash', [join(REPO_ROOT, 'test/interop/build-peers.sh'), ...which], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/**
 * The main thread's profile of the newest run (Node names them CPU.<date>.<time>.<pid>.<thread>.
 * <seq>.cpuprofile; thread 0 is the main thread, tsx's module loader thread writes its own).
 */
function newestProfile(dir: string, since: number): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

const outDir = v.out ?? join(REPO_ROOT, 'bench', 'results');
const quietS = Number(v.quiet);

/**
 * The machine's busy share just before a run (other work skews every figure here); with --quiet,
 * waits up to that long for it to drop below 15%.
 */
async function background(tag: string): Promise<number> {
  const until = performance.now() + quietS * 1000;
  for (;;) {
    const busy = await machineBusyOver(1000);
    if (busy < 0.15 || performance.now() >= until) {
      if (busy >= 0.15) progress(tag, `machine ${(busy * 100).toFixed(0)}% busy before the run`);
      return busy;
    }
    progress(tag, `machine ${(busy * 100).toFixed(0)}% busy: waiting for it to be idle (--quiet)`);
  }
}

async function main(): Promise<number> {
  ensurePeers();
  const usable = servers.filter((s) => {
    if (peerAvailable(s)) return true;
    progress('bench', `skipping ${s}: binary not found (run test/interop/build-peers.sh)`);
    return false;
  });
  const logDir = join(tmpdir(), `tsbond-bench-${String(process.pid)}`);
  const results: RunResults = {
    startedAt: new Date().toISOString(),
    command: `node --import tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    smoke,
    options: { fanout: fanoutOpts, rates, repeat, table: { ...tableBase, sizes: tableSizes } },
    fanout: [] as FanoutResult[],
    table: [] as TableResult[],
    profile: undefined as ProfileSummary | undefined,
    skipped: [] as string[],
  };
  const fanout = results.fanout as FanoutResult[];
  const fanoutRun = async (kind: ServerKind, rate: number): Promise<FanoutResult> => {
    const bg = await background(`fanout ${kind}`);
    const server = await startServer(kind, { keepalive, logDir, goLogNull: v['go-log-null'] });
    try {
      return { ...(await runFanout(server, { ...fanoutOpts, rate })), background: bg };
    } finally {
      await server.stop();
    }
  };
  const skipped = results.skipped as string[];
  const table = results.table as TableResult[];

  if (doFanout) {
    // Paced rates ascending, unpaced last; once a server fails a paced rate (lost or duplicated
    // updates), its higher paced rates are skipped: they can only fail too.
    const order = [...new Set(rates)].sort((a, b) => (a === 0 ? 1 : b === 0 ? -1 : a - b));
    for (const kind of usable) {
      let failedAt: number | undefined;
      for (const rate of order) {
        if (rate > 0 && failedAt !== undefined) {
          const why = `fanout ${kind} paced ${String(rate)}/s skipped: failed at ${String(failedAt)}/s already`;
          progress('bench', why);
          skipped.push(why);
          continue;
        }
        if (rate === 0 && repeat > 1 && REPEATED.includes(kind)) continue; // below
        const r = await fanoutRun(kind, rate);
        fanout.push(r);
        if (rate > 0 && !r.ok) failedAt = rate;
      }
    }
    if (repeat > 1 && order.includes(0)) {
      // Alternating rounds, so that slow drifts of the machine hit both sides alike.
      const kinds = usable.filter((k) => REPEATED.includes(k));
      for (let round = 1; round <= repeat; round++) {
        for (const kind of kinds) {
          progress('bench', `unpaced round ${String(round)}/${String(repeat)}: ${kind}`);
          fanout.push({ ...(await fanoutRun(kind, 0)), round, rounds: repeat });
        }
      }
    }
  }
  if (doTable) {
    for (const kind of usable.filter((k) => k !== 'forwarder')) {
      for (const routes of tableSizes) {
        const bg = await background(`table ${kind}`);
        const server = await startServer(kind, { keepalive, logDir, goLogNull: v['go-log-null'] });
        try {
          const r = await runTable(server, {
            ...tableBase,
            routes,
            sync: all || asked.has('sync'),
            withdraw: all || asked.has('withdraw'),
          });
          table.push({ ...r, background: bg });
        } finally {
          await server.stop();
        }
      }
    }
  }
  let profile: ProfileSummary | undefined;
  if (doProfile) {
    const dir = outDir;
    mkdirSync(dir, { recursive: true });
    await background('profile');
    const since = Date.now();
    const server = await startServer('tsbond', { keepalive, logDir, cpuProfileDir: dir });
    try {
      progress('profile', 'tsbond under unpaced fan-out with --cpu-prof');
      await runFanout(server, { ...fanoutOpts, rate: 0 });
    } finally {
      await server.stop();
    }
    const file = newestProfile(dir, since);
    if (file === undefined) progress('profile', 'no .cpuprofile was written');
    else profile = summarizeProfile(file);
  }
  const final: RunResults = { ...results, profile };
  const problems = [...final.fanout, ...final.table].some((x) => !x.ok);
  if (problems) progress('bench', `server logs kept in ${logDir}`);
  else rmSync(logDir, { recursive: true, force: true });

  printReport(final);
  if (!smoke || v.out !== undefined) {
    mkdirSync(outDir, { recursive: true });
    const name = `${all ? 'comparison' : [...asked].join('-')}-${final.startedAt.replace(/[:.]/g, '-')}.json`;
    const file = join(outDir, name);
    writeFileSync(file, `${JSON.stringify(final, null, 2)}\n`);
    progress('bench', `results written to ${file}`);
    if (writeMd) {
      const md = join(REPO_ROOT, 'BENCHMARKS.md');
      await writeMarkdown(final, md, file);
      progress('bench', `wrote ${md}`);
    }
  }
  if (smoke) return smokeVerdict(final);
  return 0;
}

/** Smoke: tsbond (and the forwarder, i.e. the generator itself) must be exactly correct. */
function smokeVerdict(r: RunResults): number {
  const strict = (k: ServerKind): boolean => k === 'tsbond' || k === 'forwarder';
  const failures: string[] = [];
  const warnings: string[] = [];
  for (const f of r.fanout) {
    if (f.ok) continue;
    const msg = `fanout ${f.server} ${f.mode}: ${f.problems.join('; ')}`;
    (strict(f.server) ? failures : warnings).push(msg);
  }
  for (const t of r.table) {
    if (t.ok) continue;
    const msg = `table ${t.server} ${String(t.routes)}: ${t.problems.join('; ')}`;
    (strict(t.server) ? failures : warnings).push(msg);
  }
  for (const w of warnings)
    process.stdout.write(`smoke: reference peer problem (not asserted): ${w}\n`);
  for (const f of failures) process.stdout.write(`smoke: FAIL ${f}\n`);
  if (failures.length === 0) {
    process.stdout.write(
      `smoke: OK (tsbond: ${String(r.fanout.filter((f) => f.server === 'tsbond').length)} fan-out runs at 100.00% delivery, ` +
        `${String(r.table.filter((t) => t.server === 'tsbond').length)} table runs fully synced and withdrawn)\n`,
    );
    return 0;
  }
  return 1;
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
