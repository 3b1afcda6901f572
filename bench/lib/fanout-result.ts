/**
 * Fan-out results: what a run measured, how a group of receivers is judged, and what limited the
 * figure. Pure (no I/O); used by lib/fanout.ts and the reports.
 */

import type { ClientGroup, FleetName, Track } from './fleet.js';
import type { GroupStats } from './protocol.js';
import type { ServerKind } from './servers.js';

/** What one group of clients received. */
export interface FanoutGroupResult {
  readonly name: string;
  readonly clients: number;
  /** HELLO field 1000 sent (undefined: none). */
  readonly features: number | undefined;
  readonly publish: boolean;
  readonly track: Track;
  readonly delivered: number;
  /** Every update sent by the other publishers (what an exact receiver gets). */
  readonly expected: number;
  /** delivered / (last delivery to the group - start). */
  readonly deliveredPerSec: number;
  /** From the end of publishing to the group's last delivery. */
  readonly drainS: number;
  readonly lost: number;
  /** Receivers with different numbers of ADDs and REMOVEs (the table ends empty). */
  readonly unbalanced: number;
  readonly synced: number;
  /** View groups: routes left in the views at the end, duplicate ADDs, REMOVEs of absent routes. */
  readonly viewLeft?: number;
  readonly viewAddPresent?: number;
  readonly viewRemoveAbsent?: number;
  readonly viewSamples?: readonly string[];
  /** Whether the view receivers drained (empty and quiet) within the bound. */
  readonly viewDrained?: boolean;
  /** Receivers per features field in the server's HELLO reply ('none': absent). */
  readonly serverFeatures: Readonly<Record<string, number>>;
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Remarks that are not failures (a coalescing backlog towards a receiver whose view is kept). */
  readonly notes?: readonly string[];
}

export interface FanoutSample {
  readonly t: number;
  readonly sentPerSec: number;
  readonly deliveredPerSec: number;
}

export interface FanoutResult {
  readonly server: ServerKind;
  /** The fleet (absent in results saved before fleets: 'tsbond'-like clients without field 1000). */
  readonly fleet?: FleetName;
  readonly fleetLabel?: string;
  /** Flags of `tsbond server` beyond listen and keepalive ([] = defaults; tsbond only). */
  readonly serverFlags?: readonly string[];
  readonly groups?: readonly FanoutGroupResult[];
  readonly mode: 'paced' | 'unpaced';
  readonly targetRate: number;
  readonly clients: number;
  readonly publishers?: number;
  readonly batch: number;
  readonly workers: number;
  readonly durationS: number;
  readonly sent: number;
  /** sent / elapsed from start to the last delivery (drain included). */
  readonly sentPerSec: number;
  /** Publishing window (D plus stop latency) and elapsed time until the last delivery. */
  readonly publishS: number;
  readonly elapsedS: number;
  readonly expected: number;
  readonly delivered: number;
  readonly deliveredAdds: number;
  readonly deliveredRemoves: number;
  /** delivered / elapsed from start to the last delivery. */
  readonly deliveredPerSec: number;
  /**
   * delivered / expected after draining, over the exactly counted receivers (over all receivers
   * when none is): exactly 1 when nothing was lost or duplicated.
   */
  readonly deliveryRatio: number;
  readonly drainS: number;
  readonly lostSessions: number;
  readonly lostReasons: readonly string[];
  readonly perConnMin: number;
  readonly perConnMax: number;
  readonly cpu: {
    /** CPU seconds per wall second (1.0 = one core busy), from /proc/PID/stat. */
    readonly server: number;
    readonly generators: number;
    readonly generatorMaxProcess: number;
    readonly driver: number;
    /** Share of all cores busy (whole machine). */
    readonly machine: number;
    /** CPU used by processes outside this run (other work on the machine), in cores. */
    readonly others: number;
    /**
     * Server CPU seconds (user + system) and the wall time they were measured over: from the
     * start of publishing to the end of the drain (absent in older results).
     */
    readonly serverSeconds?: number;
    readonly wallSeconds?: number;
  };
  /** Transport of the generator's connections (absent: plain TCP). */
  readonly transport?: 'tcp' | 'tls';
  /** Largest server RSS seen (sampled every second), and for tsbond the largest peer queue. */
  readonly serverPeakRss: number;
  readonly serverPeakQueuedBytes: number | undefined;
  readonly limitedBy: string;
  readonly serverLog: Readonly<Record<string, number>>;
  readonly samples: readonly FanoutSample[];
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Share of the machine busy during the second before the run (other work). */
  readonly background?: number;
  /** With --repeat: this run's number (1-based) of `rounds` alternating unpaced runs. */
  readonly round?: number;
  readonly rounds?: number;
  /** Why the run was made: 'ladder', 'refine' (bisecting a server's capacity), 'retry'. */
  readonly step?: string;
}

export interface GroupContext {
  /** Updates sent by all publishers. */
  readonly sentAdds: number;
  readonly sentRemoves: number;
  /** Start of publishing and end of it (ms since the epoch). */
  readonly t0: number;
  readonly stopAt: number;
  /** Whether the receivers of the group kept views. */
  readonly viewKept: boolean;
  readonly viewDrained: boolean;
  readonly viewDrainTimeoutS: number;
}

/** Every update of the other publishers, for each receiver of the group. */
export function expectedOf(
  g: GroupStats,
  sentAdds: number,
  sentRemoves: number,
): { adds: number; removes: number } {
  return {
    adds: sentAdds * g.conns - g.ownSentAdds,
    removes: sentRemoves * g.conns - g.ownSentRemoves,
  };
}

/**
 * Judges one group: exact counts for `count` groups (with views kept, missing ADD/REMOVE pairs
 * are a coalescing backlog, allowed by the protocol but not "every update": the views decide
 * correctness); for views, no duplicate ADD, no REMOVE of an absent route, empty at the end.
 */
export function groupResult(spec: ClientGroup, g: GroupStats, c: GroupContext): FanoutGroupResult {
  const e = expectedOf(g, c.sentAdds, c.sentRemoves);
  const delivered = g.adds + g.removes;
  const expected = e.adds + e.removes;
  const problems: string[] = [];
  const notes: string[] = [];
  if (spec.track === 'count' && (g.adds !== e.adds || g.removes !== e.removes)) {
    const text = `delivered ${String(delivered)} of ${String(expected)} (${pct(delivered, expected)}; ADDs ${String(g.adds)}/${String(e.adds)}, REMOVEs ${String(g.removes)}/${String(e.removes)})`;
    if (c.viewKept && delivered < expected) notes.push(`${text}: coalesced, views checked`);
    else problems.push(text);
  }
  if (c.viewKept) {
    if (g.viewAddPresent > 0) problems.push(`${String(g.viewAddPresent)} ADDs of a present route`);
    if (g.viewRemoveAbsent > 0)
      problems.push(`${String(g.viewRemoveAbsent)} REMOVEs of an absent route`);
    if (g.viewSize > 0)
      problems.push(`${String(g.viewSize)} routes left in the views (table empty)`);
    if (spec.track === 'view' && !c.viewDrained)
      problems.push(`not drained within ${String(c.viewDrainTimeoutS)} s`);
  }
  if (g.unbalanced > 0) problems.push(`${String(g.unbalanced)} receivers with ADDs != REMOVEs`);
  if (g.lost > 0) problems.push(`${String(g.lost)} sessions lost`);
  const lastS = Math.max(1e-3, (Math.max(g.lastUpdateAt, c.stopAt) - c.t0) / 1000);
  return {
    name: spec.name,
    clients: spec.count,
    features: spec.features,
    publish: spec.publish,
    track: spec.track,
    delivered,
    expected,
    deliveredPerSec: delivered / lastS,
    drainS: Math.max(0, (g.lastUpdateAt - c.stopAt) / 1000),
    lost: g.lost,
    unbalanced: g.unbalanced,
    synced: g.synced,
    ...(c.viewKept
      ? {
          viewLeft: g.viewSize,
          viewAddPresent: g.viewAddPresent,
          viewRemoveAbsent: g.viewRemoveAbsent,
          viewSamples: g.viewSamples,
          viewDrained: c.viewDrained,
        }
      : {}),
    serverFeatures: g.serverFeatures,
    ok: problems.length === 0,
    problems,
    notes,
  };
}

export function limitedBy(r: FanoutResult): string {
  const c = r.cpu;
  const singleThreaded = r.server === 'tsbond' || r.server === 'forwarder';
  if (r.mode === 'paced' && r.sentPerSec >= 0.95 * r.targetRate && r.deliveryRatio >= 0.999) {
    return 'the target rate (paced; no CPU limit reached)';
  }
  if (singleThreaded && c.server >= 0.9) return 'server CPU (its one core saturated)';
  if (c.generatorMaxProcess >= 0.9) return 'generator CPU (a worker process saturated)';
  if (c.machine >= 0.9) {
    return (
      `machine CPU (all cores busy: server ${(c.server * 100).toFixed(0)}%, ` +
      `generators ${(c.generators * 100).toFixed(0)}%, other processes ${(c.others * 100).toFixed(0)}%)`
    );
  }
  if (r.lostSessions > 0) return 'lost sessions (server reset them)';
  return 'neither side CPU-bound (latency / back-pressure)';
}

export function pct(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(2)}%`;
}
