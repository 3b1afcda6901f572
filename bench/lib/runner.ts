/**
 * What every benchmark run needs from the driver: start a server with the run's options, wait
 * for a quiet machine, time a part of the run, and one fan-out run with the run's sizes. The
 * results collected so far live here too.
 */

import type { ClientSyncResult } from './client-sync.js';
import type { ExtraModule, ExtraResult } from './extra.js';
import type { FanoutResult } from './fanout-result.js';
import { runFanout, type FanoutOptions } from './fanout.js';
import { fleet, type FleetName } from './fleet.js';
import { progress } from './format.js';
import type { Options } from './options.js';
import { machineBusyOver } from './procs.js';
import type { ProfileSummary } from './profile.js';
import type { SectionTime } from './results.js';
import { startServer, type RunningServer, type ServerKind } from './servers.js';
import type { StormResult } from './storm.js';
import type { TableResult } from './table.js';

export interface SuiteOutput {
  readonly fanout: FanoutResult[];
  readonly table: TableResult[];
  readonly storm: StormResult[];
  readonly clientSync: ClientSyncResult[];
  readonly extra: Record<string, ExtraResult>;
  profile: ProfileSummary | undefined;
  readonly skipped: string[];
  readonly sections: SectionTime[];
  /** The tsbond server's resolved configuration with the run's flags (from its probe). */
  serverConfig: unknown;
}

export interface SuiteEnv {
  /** Servers asked for whose binaries exist. */
  readonly usable: readonly ServerKind[];
  readonly logDir: string;
  readonly outDir: string;
  /** Extra benchmark modules (wired in bench/run.ts). */
  readonly extra: readonly ExtraModule[];
}

/** Tags stored with a fan-out run, and the tsbond server flags it runs with. */
export type RunTags = Pick<FanoutResult, 'round' | 'rounds' | 'step'> & {
  readonly flags?: readonly string[];
};

export class Runner {
  readonly out: SuiteOutput = {
    fanout: [],
    table: [],
    storm: [],
    clientSync: [],
    extra: {},
    profile: undefined,
    skipped: [],
    sections: [],
    serverConfig: undefined,
  };

  constructor(
    readonly o: Options,
    readonly env: SuiteEnv,
  ) {}

  has(k: ServerKind): boolean {
    return this.env.usable.includes(k);
  }

  /** The machine's busy share just before a run; with --quiet, waits for it to be idle. */
  async background(tag: string): Promise<number> {
    const until = performance.now() + this.o.quietS * 1000;
    for (;;) {
      const busy = await machineBusyOver(1000);
      if (busy < 0.15 || performance.now() >= until) {
        if (busy >= 0.15) progress(tag, `machine ${(busy * 100).toFixed(0)}% busy before the run`);
        return busy;
      }
      progress(tag, `machine ${(busy * 100).toFixed(0)}% busy: waiting (--quiet)`);
    }
  }

  /**
   * A server under test with the run's options. tsbond: `flags` (flags of `tsbond server`), else
   * the run's flags; the forwarder: `flags` (bench/forwarder.ts), else none; Go, rustbond: none.
   */
  async start(
    kind: ServerKind,
    flags?: readonly string[],
    cpuProfileDir?: string,
  ): Promise<RunningServer> {
    const own = kind === 'tsbond' ? (flags ?? this.o.serverFlags) : flags;
    const server = await startServer(kind, {
      keepalive: this.o.keepalive,
      logDir: this.env.logDir,
      goLogNull: this.o.goLogNull,
      serverFlags: kind === 'tsbond' || kind === 'forwarder' ? own : undefined,
      cpuProfileDir,
    });
    if (kind === 'tsbond' && this.out.serverConfig === undefined && own === this.o.serverFlags) {
      this.out.serverConfig = await server.config().catch(() => undefined);
    }
    return server;
  }

  /** Runs a part of the benchmark run and records how long it took. */
  async section(name: string, f: () => Promise<void>): Promise<void> {
    const t0 = performance.now();
    await f();
    this.out.sections.push({ name, seconds: (performance.now() - t0) / 1000 });
  }

  fanoutOptions(fleetName: FleetName, rate: number): FanoutOptions {
    const fo = this.o.fanout;
    return {
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
      keepalive: this.o.keepalive,
      drainTimeoutS: fo.drainTimeoutS,
      viewDrainTimeoutS: fo.viewDrainTimeoutS,
      limitPerClient: fo.limitPerClient,
      // Smoke sizes make views cheap: every receiver's view is checked, not only paced ones.
      viewAll: this.o.smoke,
    };
  }

  /** One fan-out run on a fresh server; the result is recorded and returned. */
  async fanout(
    kind: ServerKind,
    fleetName: FleetName,
    rate: number,
    tags: RunTags = {},
  ): Promise<FanoutResult> {
    const { flags, ...rest } = tags;
    const bg = await this.background(`fanout ${kind}`);
    const server = await this.start(kind, flags);
    try {
      const r = await runFanout(server, this.fanoutOptions(fleetName, rate));
      const full = { ...r, ...rest, background: bg };
      this.out.fanout.push(full);
      return full;
    } finally {
      await server.stop();
    }
  }
}
