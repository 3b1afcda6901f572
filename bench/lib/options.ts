/** Command line of bench/run.ts: what to run and with which sizes. */

import { parseArgs } from 'node:util';

import type { ExtraModule, ExtraOption } from './extra.js';
import { FLEET_NAMES, type FleetName } from './fleet.js';
import { FEATURE_REASSEMBLY } from './hello.js';
import { SERVER_KINDS, type ServerKind } from './servers.js';

export const HELP = `usage: node --import tsx bench/run.ts [BENCHMARK...] [options]

BENCHMARK: fanout, paced-one, storm, client-sync, sync, memory, withdraw, profile, all (default:
           all = comparison mode: everything below; writes BENCHMARKS.md and its chart)
       or: report FILE.json... [--markdown]   tables (and BENCHMARKS.md) again from saved runs
           (several files: merged, e.g. parts run one by one)
  fanout       fan-out between N clients (--fleet): ladder of paced rates, then unpaced runs
  paced-one    49 tsbond peers + 1 subscriber without REASSEMBLY (paced by the server) vs
               the same with an unpaced 50th, alternating (issue 10 (b))
  storm        S subscribers subscribe at once to a loaded VNI (issue 10 (a))
  client-sync  a default tsbond client syncs a loaded VNI from a default server (issue 11)
  sync, memory, withdraw   one loaded table per server and size (issue 6)
  profile      tsbond under unpaced fan-out with --cpu-prof
  (extra modules wired in bench/run.ts run under their own names, listed at the end)

Servers and their configuration
  --server LIST        tsbond,go,rust,forwarder (default: tsbond; all four for 'all'). The
                       forwarder only runs unpaced fan-out; storm, paced-one and client-sync are
                       tsbond only
  --server-flags "F"   extra flags of \`tsbond server\` (default none: the CLI's defaults); every
                       result records the flags it ran with
  --compare-flags "F"  also run the unpaced tsbond-peer fan-out with these tsbond server flags,
                       reported beside the default figures (default: not run)
  --keepalive S        keepalive offered by the generator and the servers (default 5)

Fan-out
  --fleet LIST         tsbond (clients announce --features), plain (no field 1000: the server
                       paces them, Go-compatible mode), mixed (--mixed-plain of them without)
                       (default: tsbond; all three for 'all')
  --features N         HELLO field 1000 of tsbond-like generator clients (default 1 = REASSEMBLY)
  --mixed-plain N      clients without field 1000 in the mixed fleet (default 5)
  --clients N          fan-out clients (default 50, at most 255)
  --batch N            routes per announce batch (default 100)
  --duration S         publishing time of an unpaced run, seconds (default 10)
  --ladder-duration S  publishing time of a paced rung (default 5)
  --rate LIST          paced rates, updates/s in over all publishers; 0 = unpaced
                       (default 5000,10000,25000,50000,100000,200000,400000,800000,0)
  --no-extend          do not extend the ladder (x2 per rung, up to --max-rate) until a failure
  --max-rate N         highest rate the extension tries (default 25600000)
  --refine N           bisection runs between a server's highest passing and lowest failing
                       rate (default 2)
  --retry N            re-runs of a failing rung before the ladder stops (default 1)
  --repeat N           unpaced runs per server of the tsbond fleet, alternating between servers
                       after the ladders; medians reported (default 9 for 'all', else 1)
  --fleet-repeat N     unpaced runs of the plain and mixed fleets (default 3 for 'all', else 1)
  --paced-repeat N     rounds of paced-one (each: baseline run, then paced run) (default 3 for
                       'all', else 1)
  --view-drain-timeout S  longest wait for paced receivers to drain after the stop (default
                       900; given up sooner when nothing arrives for 30 s)
  --limit-per-client N each publisher stops by itself after N updates (whole batches; default
                       0 = no limit; smoke: 10000, so that its volume is bounded whatever the
                       server's speed)
  --workers N          load-generator processes (default 2)
  --cycle N            batches pre-built per client and replayed (default 64)

Snapshot storm and client sync
  --storm-routes N     routes in the storm's VNI (default 1000000)
  --storm-subscribers N  (default 200)
  --storm-timeout S    bound of the storm (default 180; the target is 60)
  --storm-rss-abort M  safety stop: kill the server when its RSS grows by more than M MiB
                       during the storm (default 4096; a server that copies each snapshot
                       would need some 7 GB for 200 x 1M routes)
  --client-routes N    routes for client-sync (default 1000000)
  --client-rounds N    client processes run one after the other on the loaded table; medians
                       reported, every round kept (default 5)
  --client-announce    the client-sync client also announces a route (as a hypervisor's does)
  --sync-delay S       the server's sync delay: client-sync subscribes after this much server
                       uptime (default 15, the tsbond default)

Table (sync, memory, withdraw)
  --routes LIST        table sizes (default 100000,1000000)
  --victim N           routes owned by the disconnecting peer (default 100000)
  --announcers N       announcers besides the victim (default 4)
  --window N           frames per load window, one KEEPALIVE round trip each (default 1000)
  --withdraw-runs N    measured withdraws per table (default 9; smoke: 2)
  --withdraw-warmup N  withdraws before those, listed, not in the median (default 5; smoke: 0)
  --no-withdraw-shrink do not repeat the withdraws after the other announcers left

General
  --smoke              tiny sizes, seconds per benchmark; asserts correctness only (exact
                       delivery, exact views, exact snapshots); exit 1 otherwise
  --peers              smoke: also run Go MetalBond and rustbond (reported, not asserted)
  --profile            also profile tsbond (--cpu-prof) under unpaced fan-out
  --markdown / --no-markdown   write BENCHMARKS.md and bench/results/chart.svg (default: 'all')
  --go-log-null        send the Go server's log to /dev/null instead of a file
  --no-build           do not run test/interop/build-peers.sh for missing peers
  --out DIR            result directory (default bench/results; smoke writes none unless given)
  --quiet S            before each run, wait up to S seconds for the machine to be idle
                       (< 15% busy over 1 s) (default 0)
  --max-minutes M      abort the whole run after M minutes (default 90)
  -h, --help`;

/** HELP plus the extra modules' names, titles and options. */
export function helpText(extra: readonly ExtraModule[]): string {
  if (extra.length === 0) return HELP;
  const lines = ['', 'Extra modules (BENCHMARK names; `all` runs those marked *)'];
  for (const m of extra) {
    lines.push(`  ${m.name.padEnd(12)} ${m.inAll ? '*' : ' '} ${m.title}`);
  }
  for (const m of extra) if (m.help !== undefined) lines.push('', m.help);
  return `${HELP}\n${lines.join('\n')}`;
}

export type Benchmark =
  'fanout' | 'paced-one' | 'storm' | 'client-sync' | 'sync' | 'memory' | 'withdraw' | 'profile';

export const BENCHMARKS: readonly Benchmark[] = [
  'fanout',
  'paced-one',
  'storm',
  'client-sync',
  'sync',
  'memory',
  'withdraw',
  'profile',
];

export interface Options {
  /** 'all' (comparison mode) or the benchmarks named. */
  readonly all: boolean;
  readonly asked: ReadonlySet<string>;
  readonly smoke: boolean;
  readonly peers: boolean;
  readonly servers: readonly ServerKind[];
  readonly serverFlags: readonly string[];
  readonly compareFlags: readonly string[] | undefined;
  readonly keepalive: number;
  readonly fanout: {
    readonly fleets: readonly FleetName[];
    readonly features: number;
    readonly mixedPlain: number;
    readonly clients: number;
    readonly batch: number;
    readonly durationS: number;
    readonly ladderDurationS: number;
    readonly rates: readonly number[];
    readonly extend: boolean;
    readonly maxRate: number;
    readonly refine: number;
    readonly retry: number;
    readonly repeat: number;
    readonly fleetRepeat: number;
    readonly pacedRepeat: number;
    readonly workers: number;
    readonly cycle: number;
    readonly vni: number;
    readonly drainTimeoutS: number;
    readonly viewDrainTimeoutS: number;
    readonly limitPerClient: number;
  };
  readonly storm: {
    readonly routes: number;
    readonly subscribers: number;
    readonly timeoutS: number;
    readonly rssAbortMiB: number;
  };
  readonly clientSync: {
    readonly routes: number;
    readonly rounds: number;
    readonly announce: boolean;
    readonly syncDelayS: number;
  };
  readonly table: {
    readonly sizes: readonly number[];
    readonly victimRoutes: number;
    readonly announcers: number;
    readonly window: number;
    readonly withdrawRuns: number;
    readonly withdrawWarmup: number;
    readonly withdrawShrink: boolean;
    readonly vni: number;
    readonly keepalive: number;
    readonly stepTimeoutS: number;
  };
  readonly profile: boolean;
  readonly markdown: boolean;
  readonly goLogNull: boolean;
  readonly build: boolean;
  readonly out: string | undefined;
  readonly quietS: number;
  readonly maxMinutes: number;
  /** Values of the extra modules' own options, by option name. */
  readonly extraArgs: Readonly<Record<string, string | boolean | undefined>>;
  /** `report FILE.json`: no measurement. */
  /** Several files: merged (each benchmark from the run that measured it). */
  readonly report: { readonly files: readonly string[]; readonly markdown: boolean } | undefined;
}

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function numbers(name: string, s: string): number[] {
  return list(s).map((x) => {
    const n = Number(x.replace(/_/g, ''));
    if (!Number.isFinite(n) || n < 0) {
      throw new UsageError(`--${name}: '${x}' is not a number >= 0`);
    }
    return n;
  });
}

function int(name: string, s: string, min: number): number {
  const n = Number(s.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${String(min)}`);
  return n;
}

function flags(s: string | undefined): string[] | undefined {
  return s === undefined ? undefined : s.split(/\s+/).filter((x) => x !== '');
}

export class UsageError extends Error {}

/** Parses argv (without node and the script); throws UsageError on a bad command line. */
export function parseOptions(argv: readonly string[], extra: readonly ExtraModule[]): Options {
  // Flag lists start with '-', which parseArgs takes for an option: glue them to their name.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const next = argv[i + 1];
    if ((a === '--server-flags' || a === '--compare-flags') && next !== undefined) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  const own = {
    server: { type: 'string' },
    'server-flags': { type: 'string' },
    'compare-flags': { type: 'string' },
    keepalive: { type: 'string', default: '5' },
    fleet: { type: 'string' },
    features: { type: 'string', default: String(FEATURE_REASSEMBLY) },
    'mixed-plain': { type: 'string', default: '5' },
    clients: { type: 'string', default: '50' },
    batch: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    'ladder-duration': { type: 'string', default: '5' },
    rate: { type: 'string', default: '5000,10000,25000,50000,100000,200000,400000,800000,0' },
    'no-extend': { type: 'boolean', default: false },
    'max-rate': { type: 'string', default: '25600000' },
    refine: { type: 'string', default: '2' },
    retry: { type: 'string', default: '1' },
    repeat: { type: 'string' },
    'fleet-repeat': { type: 'string' },
    'paced-repeat': { type: 'string' },
    'view-drain-timeout': { type: 'string', default: '900' },
    'limit-per-client': { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
    cycle: { type: 'string', default: '64' },
    'storm-routes': { type: 'string', default: '1000000' },
    'storm-subscribers': { type: 'string', default: '200' },
    'storm-timeout': { type: 'string', default: '180' },
    'storm-rss-abort': { type: 'string', default: '4096' },
    'client-routes': { type: 'string', default: '1000000' },
    'client-rounds': { type: 'string', default: '5' },
    'client-announce': { type: 'boolean', default: false },
    'sync-delay': { type: 'string', default: '15' },
    routes: { type: 'string', default: '100000,1000000' },
    victim: { type: 'string', default: '100000' },
    announcers: { type: 'string', default: '4' },
    window: { type: 'string', default: '1000' },
    'withdraw-runs': { type: 'string', default: '9' },
    'withdraw-warmup': { type: 'string', default: '5' },
    'no-withdraw-shrink': { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    peers: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    markdown: { type: 'boolean' },
    'no-markdown': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string' },
    quiet: { type: 'string', default: '0' },
    'go-log-null': { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '90' },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  const moduleOptions: Record<string, ExtraOption> = {};
  for (const m of extra) {
    for (const [name, spec] of Object.entries(m.options ?? {})) {
      if (name in own || name in moduleOptions) {
        throw new Error(`option --${name} of module '${m.name}' is defined twice`);
      }
      moduleOptions[name] = spec;
    }
  }
  const parsed = parseArgs({
    args,
    allowPositionals: true,
    options: { ...own, ...moduleOptions },
  });
  const { positionals } = parsed;
  // The built-in options keep their precise types; the modules' values are read by name.
  const v = parsed.values;
  const extraArgs: Record<string, string | boolean | undefined> = {};
  const values = parsed.values as Record<string, string | boolean | undefined>;
  for (const [name, spec] of Object.entries(moduleOptions)) {
    const x = values[name];
    if (spec.min !== undefined && typeof x === 'string') int(name, x, spec.min);
    extraArgs[name] = x;
  }
  if (v.help) throw new UsageError('');
  const report =
    positionals[0] === 'report'
      ? (() => {
          const files = positionals.slice(1);
          if (files.length === 0)
            throw new UsageError('usage: report FILE.json [FILE.json...] [--markdown]');
          return { files, markdown: v.markdown === true };
        })()
      : undefined;
  const names = new Set<string>([...BENCHMARKS, 'all', ...extra.map((m) => m.name)]);
  if (report === undefined) {
    for (const p of positionals) {
      if (!names.has(p)) throw new UsageError(`unknown benchmark '${p}'`);
    }
  }
  const asked = new Set<string>(positionals.length === 0 ? ['all'] : positionals);
  const all = asked.has('all');
  const smoke = v.smoke;
  const servers = ((): ServerKind[] => {
    if (v.server !== undefined) {
      const s = list(v.server);
      for (const x of s) {
        if (!(SERVER_KINDS as readonly string[]).includes(x))
          throw new UsageError(`unknown server '${x}'`);
      }
      return s as ServerKind[];
    }
    if (smoke) return v.peers ? ['tsbond', 'forwarder', 'go', 'rust'] : ['tsbond', 'forwarder'];
    return all ? ['tsbond', 'go', 'rust', 'forwarder'] : ['tsbond'];
  })();
  const fleets = ((): FleetName[] => {
    if (v.fleet !== undefined) {
      const f = list(v.fleet);
      for (const x of f) {
        if (!(FLEET_NAMES as readonly string[]).includes(x) || x.startsWith('one-paced'))
          throw new UsageError(`unknown fleet '${x}' (tsbond, plain, mixed)`);
      }
      return f as FleetName[];
    }
    return all ? ['tsbond', 'plain', 'mixed'] : ['tsbond'];
  })();
  const many = all && !smoke;
  const keepalive = int('keepalive', v.keepalive, 1);
  const clients = smoke ? 6 : int('clients', v.clients, 3);
  return {
    all,
    asked,
    smoke,
    peers: v.peers,
    servers,
    serverFlags: flags(v['server-flags']) ?? [],
    compareFlags: flags(v['compare-flags']),
    keepalive,
    fanout: {
      fleets,
      features: int('features', v.features, 0),
      mixedPlain: smoke ? 2 : int('mixed-plain', v['mixed-plain'], 1),
      clients,
      batch: smoke ? 20 : int('batch', v.batch, 1),
      durationS: smoke ? 2 : Number(v.duration),
      ladderDurationS: smoke ? 2 : Number(v['ladder-duration']),
      rates: smoke ? [2000, 0] : numbers('rate', v.rate),
      extend: !smoke && !v['no-extend'],
      maxRate: int('max-rate', v['max-rate'], 1),
      refine: smoke ? 0 : int('refine', v.refine, 0),
      retry: smoke ? 0 : int('retry', v.retry, 0),
      repeat: v.repeat !== undefined ? int('repeat', v.repeat, 1) : many ? 9 : 1,
      fleetRepeat:
        v['fleet-repeat'] !== undefined ? int('fleet-repeat', v['fleet-repeat'], 1) : many ? 3 : 1,
      pacedRepeat:
        v['paced-repeat'] !== undefined ? int('paced-repeat', v['paced-repeat'], 1) : many ? 3 : 1,
      workers: int('workers', v.workers, 1),
      cycle: smoke ? 4 : int('cycle', v.cycle, 1),
      vni: 100,
      drainTimeoutS: 60,
      viewDrainTimeoutS: int('view-drain-timeout', v['view-drain-timeout'], 1),
      limitPerClient: smoke ? 10_000 : int('limit-per-client', v['limit-per-client'], 0),
    },
    storm: {
      routes: smoke ? 20_000 : int('storm-routes', v['storm-routes'], 1),
      subscribers: smoke ? 20 : int('storm-subscribers', v['storm-subscribers'], 1),
      timeoutS: smoke ? 60 : int('storm-timeout', v['storm-timeout'], 1),
      rssAbortMiB: int('storm-rss-abort', v['storm-rss-abort'], 1),
    },
    clientSync: {
      routes: smoke ? 20_000 : int('client-routes', v['client-routes'], 1),
      rounds: smoke ? 1 : int('client-rounds', v['client-rounds'], 1),
      announce: v['client-announce'],
      syncDelayS: Number(v['sync-delay']),
    },
    table: {
      sizes: smoke ? [20_000] : numbers('routes', v.routes),
      victimRoutes: smoke ? 5000 : int('victim', v.victim, 1),
      announcers: smoke ? 2 : int('announcers', v.announcers, 1),
      window: int('window', v.window, 1),
      withdrawRuns: smoke ? 2 : int('withdraw-runs', v['withdraw-runs'], 1),
      withdrawWarmup: smoke ? 0 : int('withdraw-warmup', v['withdraw-warmup'], 0),
      withdrawShrink: !v['no-withdraw-shrink'],
      vni: 100,
      keepalive,
      stepTimeoutS: smoke ? 60 : 300,
    },
    profile: many || asked.has('profile') || v.profile,
    markdown: v['no-markdown'] ? false : (v.markdown ?? many),
    goLogNull: v['go-log-null'],
    build: !v['no-build'],
    out: v.out,
    quietS: Number(v.quiet),
    maxMinutes: Number(v['max-minutes']),
    extraArgs,
    report,
  };
}

/** Whether a benchmark runs under these options. */
export function wants(o: Options, b: string): boolean {
  if (b === 'profile') return o.profile;
  return o.all || o.asked.has(b);
}
