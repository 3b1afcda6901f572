/**
 * What `bench/run.ts` runs, in order: fan-out (ladders, then unpaced runs alternating between the
 * servers; the other fleets), paced-one, storm, client-sync, the table benchmarks, the extra
 * modules, the profile. Every server process is started fresh for its run and stopped after it,
 * except client-sync's, which starts first and idles until its turn (see below).
 */

import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { runClientSync } from './client-sync.js';
import type { ExtraContext } from './extra.js';
import { runFanout } from './fanout.js';
import { fanoutSeries, pacedOneSeries } from './fanout-series.js';
import { progress } from './format.js';
import { wants, type Options } from './options.js';
import { summarizeProfile } from './profile.js';
import { Runner, type SuiteEnv, type SuiteOutput } from './runner.js';
import type { RunningServer } from './servers.js';
import { runStorm } from './storm.js';
import { runTable } from './table.js';

export type { SuiteEnv, SuiteOutput } from './runner.js';

export async function runSuite(o: Options, env: SuiteEnv): Promise<SuiteOutput> {
  const run = new Runner(o, env);
  // The client-sync server starts first and idles until its turn: a tsbond server holds SYNCED
  // back for its first 15 s (the sync delay), which have passed by then without a wait of their
  // own (in a smoke run too).
  const clientServer =
    wants(o, 'client-sync') && run.has('tsbond') ? await run.start('tsbond') : undefined;
  try {
    if (wants(o, 'fanout')) await fanoutSeries(run);
    if (wants(o, 'paced-one') && run.has('tsbond')) await pacedOneSeries(run);
    if (wants(o, 'storm') && run.has('tsbond')) await storm(run);
    if (clientServer !== undefined) await clientSync(run, clientServer);
    if (wants(o, 'sync') || wants(o, 'memory') || wants(o, 'withdraw')) await table(run);
    await extras(run);
    if (o.profile && run.has('tsbond')) await profile(run);
  } finally {
    await clientServer?.stop();
  }
  return run.out;
}

async function storm(run: Runner): Promise<void> {
  const o = run.o;
  await run.section('snapshot storm', async () => {
    const bg = await run.background('storm');
    const server = await run.start('tsbond');
    try {
      const r = await runStorm(server, {
        routes: o.storm.routes,
        subscribers: o.storm.subscribers,
        announcers: 5,
        window: o.table.window,
        vni: o.fanout.vni,
        keepalive: o.keepalive,
        features: o.fanout.features,
        workers: o.fanout.workers,
        targetS: 60,
        rssGrowthLimitBytes: 512 * 1024 * 1024,
        rssAbortBytes: o.storm.rssAbortMiB * 1024 * 1024,
        timeoutS: o.storm.timeoutS,
        stallS: 30,
        sampleMs: 20,
      });
      run.out.storm.push({ ...r, background: bg });
    } finally {
      await server.stop();
    }
  });
}

async function clientSync(run: Runner, server: RunningServer): Promise<void> {
  const o = run.o;
  await run.section('client sync', async () => {
    const bg = await run.background('client-sync');
    const r = await runClientSync(server, {
      routes: o.clientSync.routes,
      announcers: 5,
      window: o.table.window,
      vni: o.fanout.vni,
      keepalive: o.keepalive,
      features: o.fanout.features,
      syncDelayS: o.clientSync.syncDelayS,
      targetS: 2,
      timeoutS: o.smoke ? 60 : 180,
      rounds: o.clientSync.rounds,
      announce: o.clientSync.announce,
    });
    run.out.clientSync.push({ ...r, background: bg });
  });
  await server.stop();
}

async function table(run: Runner): Promise<void> {
  const o = run.o;
  await run.section('sync, memory, withdraw', async () => {
    for (const kind of run.env.usable.filter((k) => k !== 'forwarder')) {
      for (const routes of o.table.sizes) {
        const bg = await run.background(`table ${kind}`);
        const server = await run.start(kind);
        try {
          const r = await runTable(server, {
            ...o.table,
            features: o.fanout.features,
            routes,
            sync: wants(o, 'sync'),
            withdraw: wants(o, 'withdraw'),
          });
          run.out.table.push({ ...r, background: bg });
        } finally {
          await server.stop();
        }
      }
    }
  });
}

/** The extra modules wired in bench/run.ts, each under its own name. */
async function extras(run: Runner): Promise<void> {
  const o = run.o;
  for (const m of run.env.extra) {
    if (!(o.asked.has(m.name) || (o.all && (o.smoke ? m.inSmoke : m.inAll)))) continue;
    await run.section(m.title, async () => {
      const ctx: ExtraContext = {
        smoke: o.smoke,
        keepalive: o.keepalive,
        serverFlags: o.serverFlags,
        options: o,
        args: o.extraArgs,
        servers: run.env.usable,
        startServer: (kind, flags) => run.start(kind, flags),
        fanoutOptions: (fleet, rate) => run.fanoutOptions(fleet, rate),
        background: (tag) => run.background(tag),
        progress: (msg) => {
          progress(m.name, msg);
        },
      };
      try {
        const r = await m.run(ctx);
        run.out.extra[m.name] = { ...r, title: m.title };
        if (r.skipped !== undefined) progress(m.name, `not measured: ${r.skipped}`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        progress(m.name, `FAILED: ${msg}`);
        run.out.extra[m.name] = { title: m.title, ok: false, problems: [msg], figures: [] };
      }
    });
  }
}

async function profile(run: Runner): Promise<void> {
  const dir = run.env.outDir;
  await run.section('profile', async () => {
    mkdirSync(dir, { recursive: true });
    await run.background('profile');
    const since = Date.now();
    const server = await run.start('tsbond', run.o.serverFlags, dir);
    try {
      progress('profile', 'tsbond under unpaced fan-out (default tsbond peers) with --cpu-prof');
      await runFanout(server, run.fanoutOptions('tsbond', 0));
    } finally {
      await server.stop();
    }
    const file = newestProfile(dir, since);
    if (file === undefined) progress('profile', 'no .cpuprofile was written');
    else run.out.profile = summarizeProfile(file);
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
