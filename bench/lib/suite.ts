/**
 * What `bench/run.ts` runs, in order: fan-out (ladders, then unpaced runs alternating between the
 * servers), the other fleets, paced-one, storm, client-sync, the table benchmarks, the extra
 * modules, the profile. Every process is started fresh per run and stopped after it.
 */

import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { runClientSync, type ClientSyncResult } from './client-sync.js';
import { EXTRA_MODULES, type ExtraContext, type ExtraResult } from './extra.js';
import { runFanout, type FanoutOptions, type FanoutResult } from './fanout.js';
import { fleet, type FleetName } from './fleet.js';
import { fmtRate, progress } from './format.js';
import { machineBusyOver } from './procs.js';
import type { Options } from './options.js';
import { wants } from './options.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import type { SectionTime } from './results.js';
import { startServer, type RunningServer, type ServerKind } from './servers.js';
import { runStorm, type StormResult } from './storm.js';
import { runTable, type TableResult } from './table.js';

export interface SuiteOutput {
  readonly fanout: FanoutResult[];
  readonly table: TableResult[];
  readonly storm: StormResult[];
  readonly clientSync: ClientSyncResult[];
  readonly extra: Record<string, ExtraResult>;
  profile: ProfileSummary | undefined;
  readonly skipped: string[];
  readonly sections: SectionTime[];
}

export interface SuiteEnv {
  readonly usable: readonly ServerKind[];
  readonly logDir: string;
  readonly outDir: string;
}

/** Two significant digits (bisected rates read well: 35k, not 35355). */
function roundRate(x: number): number {
  return Number(x.toPrecision(2));
}

/** A rung passes when every update reached every receiver (views exact, nothing lost). */
function passes(r: FanoutResult): boolean {
  return r.ok && r.deliveryRatio === 1;
}

export async function runSuite(o: Options, env: SuiteEnv): Promise<SuiteOutput> {
  const out: SuiteOutput = {
    fanout: [],
    table: [],
    storm: [],
    clientSync: [],
    extra: {},
    profile: undefined,
    skipped: [],
    sections: [],
  };
  const has = (k: ServerKind): boolean => env.usable.includes(k);

  /** The machine's busy share just before a run; with --quiet, waits for it to be idle. */
  const background = async (tag: string): Promise<number> => {
    const until = performance.now() + o.quietS * 1000;
    for (;;) {
      const busy = await machineBusyOver(1000);
      if (busy < 0.15 || performance.now() >= until) {
        if (busy >= 0.15) progress(tag, `machine ${(busy * 100).toFixed(0)}% busy before the run`);
        return busy;
      }
      progress(tag, `machine ${(busy * 100).toFixed(0)}% busy: waiting (--quiet)`);
    }
  };
  const start = (kind: ServerKind, flags = o.serverFlags): Promise<RunningServer> =>
    startServer(kind, {
      keepalive: o.keepalive,
      logDir: env.logDir,
      goLogNull: o.goLogNull,
      serverFlags: kind === 'tsbond' ? flags : undefined,
    });
  const section = async (name: string, f: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await f();
    out.sections.push({ name, seconds: (performance.now() - t0) / 1000 });
  };
  const fo = o.fanout;
  const fanoutOptions = (fleetName: FleetName, rate: number): FanoutOptions => ({
    fleet: fleet(fleetName, {
      clients: fo.clients,
      features: fo.features,
      mixedPlain: fo.mixedPlain,
    }),
    batch: fo.batch,
    durationS: rate > 0 ? fo.ladderDurationS : fo.durationS,
    rate,
    workers: fo.workers,
    cycle: fo.cycle,
    vni: fo.vni,
    keepalive: o.keepalive,
    drainTimeoutS: fo.drainTimeoutS,
    viewDrainTimeoutS: fo.viewDrainTimeoutS,
    limitPerClient: fo.limitPerClient,
  });
  const fanoutRun = async (
    kind: ServerKind,
    fleetName: FleetName,
    rate: number,
    extra: Partial<FanoutResult> & { flags?: readonly string[] } = {},
  ): Promise<FanoutResult> => {
    const { flags, ...tags } = extra;
    const bg = await background(`fanout ${kind}`);
    const server = await start(kind, flags);
    try {
      const r = await runFanout(server, fanoutOptions(fleetName, rate));
      const full = { ...r, ...tags, background: bg };
      out.fanout.push(full);
      return full;
    } finally {
      await server.stop();
    }
  };

  /**
   * Paced rungs ascending; a failing rung is re-run `retry` times; after the listed rates the
   * ladder goes on doubling (up to maxRate) while the server passes; then `refine` runs bisect
   * between the highest passing and the lowest failing rate.
   */
  const ladder = async (kind: ServerKind, fleetName: FleetName): Promise<void> => {
    const listed = [...new Set(fo.rates.filter((x) => x > 0))].sort((a, b) => a - b);
    let lastOk: number | undefined;
    let firstFail: number | undefined;
    for (let i = 0; ; i++) {
      const prev = lastOk ?? 0;
      const rate =
        i < listed.length
          ? listed[i]
          : fo.extend && prev > 0 && prev * 2 <= fo.maxRate
            ? prev * 2
            : undefined;
      if (rate === undefined) break;
      let ok = passes(
        await fanoutRun(kind, fleetName, rate, { step: i < listed.length ? 'ladder' : 'extend' }),
      );
      for (let k = 0; !ok && k < fo.retry; k++) {
        progress('bench', `fanout ${kind} ${fmtRate(rate)}/s failed: retrying`);
        ok = passes(await fanoutRun(kind, fleetName, rate, { step: 'retry' }));
      }
      if (!ok) {
        firstFail = rate;
        const rest = listed.filter((x) => x > rate);
        if (rest.length > 0) {
          const why = `fanout ${kind} [${fleetName}] paced ${rest.map(fmtRate).join(', ')}/s skipped: failed at ${fmtRate(rate)}/s`;
          progress('bench', why);
          out.skipped.push(why);
        }
        break;
      }
      lastOk = rate;
    }
    if (firstFail === undefined) return;
    let hi = firstFail;
    let lo = lastOk ?? 0;
    for (let k = 0; k < fo.refine; k++) {
      const m = roundRate(lo > 0 ? Math.sqrt(lo * hi) : hi / 2);
      if (m <= lo || m >= hi) break;
      if (passes(await fanoutRun(kind, fleetName, m, { step: 'refine' }))) lo = m;
      else hi = m;
    }
  };

  // The client-sync server starts first and idles until its turn: SYNCED is held back during
  // its first 15 s (the sync delay), which have passed by then without a wait of their own.
  const clientServer = wants(o, 'client-sync') && has('tsbond') ? await start('tsbond') : undefined;
  try {
    await runBenchmarks();
  } finally {
    await clientServer?.stop();
  }
  return out;

  async function runBenchmarks(): Promise<void> {
    if (wants(o, 'fanout')) {
      await section('fan-out, default tsbond peers', async () => {
        if (!fo.fleets.includes('tsbond')) return;
        // Ladders first (the forwarder only runs unpaced: it is the ceiling of that comparison).
        for (const kind of env.usable) if (kind !== 'forwarder') await ladder(kind, 'tsbond');
        if (fo.rates.includes(0)) {
          // Unpaced, alternating between the servers round by round, so that slow drifts of the
          // machine hit all of them alike; every server gets the same number of runs.
          for (let round = 1; round <= fo.repeat; round++) {
            for (const kind of env.usable) {
              progress('bench', `unpaced round ${String(round)}/${String(fo.repeat)}: ${kind}`);
              await fanoutRun(kind, 'tsbond', 0, { round, rounds: fo.repeat, step: 'unpaced' });
            }
          }
        }
      });
      if (has('tsbond')) {
        await section('fan-out, Go-compatible and mixed fleets', async () => {
          if (fo.fleets.includes('plain')) {
            // The ladder until the first rate the paced peers cannot take whole (coalescing
            // starts; correct, but no longer every update), then the unpaced runs.
            if (!o.smoke) await ladder('tsbond', 'plain');
            for (let round = 1; round <= fo.fleetRepeat; round++) {
              await fanoutRun('tsbond', 'plain', 0, {
                round,
                rounds: fo.fleetRepeat,
                step: 'unpaced',
              });
            }
          }
          if (fo.fleets.includes('mixed')) {
            for (let round = 1; round <= fo.fleetRepeat; round++) {
              await fanoutRun('tsbond', 'mixed', 0, {
                round,
                rounds: fo.fleetRepeat,
                step: 'unpaced',
              });
            }
          }
          const alt = o.compareFlags;
          if (alt !== undefined && fo.fleets.includes('tsbond')) {
            for (let round = 1; round <= fo.fleetRepeat; round++) {
              await fanoutRun('tsbond', 'tsbond', 0, {
                round,
                rounds: fo.fleetRepeat,
                step: 'compare-flags',
                flags: [...o.serverFlags, ...alt],
              });
            }
          }
        });
      }
    }
    if (wants(o, 'paced-one') && has('tsbond')) {
      await section('one paced subscriber', async () => {
        for (let round = 1; round <= fo.pacedRepeat; round++) {
          for (const name of ['one-paced-baseline', 'one-paced'] as const) {
            progress(
              'bench',
              `paced-one round ${String(round)}/${String(fo.pacedRepeat)}: ${name}`,
            );
            await fanoutRun('tsbond', name, 0, { round, rounds: fo.pacedRepeat, step: 'unpaced' });
          }
        }
      });
    }
    if (wants(o, 'storm') && has('tsbond')) {
      await section('snapshot storm', async () => {
        const bg = await background('storm');
        const server = await start('tsbond');
        try {
          const r = await runStorm(server, {
            routes: o.storm.routes,
            subscribers: o.storm.subscribers,
            announcers: 5,
            window: o.table.window,
            vni: fo.vni,
            keepalive: o.keepalive,
            features: fo.features,
            workers: fo.workers,
            targetS: 60,
            rssGrowthLimitBytes: 512 * 1024 * 1024,
            timeoutS: o.storm.timeoutS,
            stallS: 30,
            sampleMs: 20,
          });
          out.storm.push({ ...r, background: bg });
        } finally {
          await server.stop();
        }
      });
    }
    if (clientServer !== undefined) {
      const server = clientServer;
      await section('client sync', async () => {
        const bg = await background('client-sync');
        const r = await runClientSync(server, {
          routes: o.clientSync.routes,
          announcers: 5,
          window: o.table.window,
          vni: fo.vni,
          keepalive: o.keepalive,
          syncDelayS: o.clientSync.syncDelayS,
          targetS: 2,
          timeoutS: o.smoke ? 60 : 180,
        });
        out.clientSync.push({ ...r, background: bg });
      });
      await server.stop();
    }
    const tableBench = wants(o, 'sync') || wants(o, 'memory') || wants(o, 'withdraw');
    if (tableBench) {
      await section('sync, memory, withdraw', async () => {
        for (const kind of env.usable.filter((k) => k !== 'forwarder')) {
          for (const routes of o.table.sizes) {
            const bg = await background(`table ${kind}`);
            const server = await start(kind);
            try {
              const r = await runTable(server, {
                ...o.table,
                routes,
                sync: wants(o, 'sync'),
                withdraw: wants(o, 'withdraw'),
              });
              out.table.push({ ...r, background: bg });
            } finally {
              await server.stop();
            }
          }
        }
      });
    }
    for (const m of EXTRA_MODULES) {
      const run = o.asked.has(m.name) || (o.all && (o.smoke ? m.inSmoke : m.inAll));
      if (!run) continue;
      await section(m.title, async () => {
        const ctx: ExtraContext = {
          smoke: o.smoke,
          keepalive: o.keepalive,
          serverFlags: o.serverFlags,
          startServer: (kind) => start(kind),
          background,
          progress: (msg) => {
            progress(m.name, msg);
          },
        };
        try {
          out.extra[m.name] = await m.run(ctx);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          progress(m.name, `FAILED: ${msg}`);
          out.extra[m.name] = { ok: false, problems: [msg], figures: [] };
        }
      });
    }
    if (o.profile && has('tsbond')) {
      await section('profile', async () => {
        mkdirSync(env.outDir, { recursive: true });
        await background('profile');
        const since = Date.now();
        const server = await startServer('tsbond', {
          keepalive: o.keepalive,
          logDir: env.logDir,
          cpuProfileDir: env.outDir,
          serverFlags: o.serverFlags,
        });
        try {
          progress(
            'profile',
            'tsbond under unpaced fan-out (default tsbond peers) with --cpu-prof',
          );
          await runFanout(server, fanoutOptions('tsbond', 0));
        } finally {
          await server.stop();
        }
        const file = newestProfile(env.outDir, since);
        if (file === undefined) progress('profile', 'no .cpuprofile was written');
        else out.profile = summarizeProfile(file);
      });
    }
  }
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
