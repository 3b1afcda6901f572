/** IPC messages between the benchmark driver (run.ts) and its load-generator workers (worker.ts). */

import type { SumValue, ViewReport } from './route-sum.js';

export interface ConnSpec {
  readonly id: string;
  /** Subscribe to this VNI right after the handshake. */
  readonly subscribe?: number | undefined;
  /** HELLO field 1000 `features` (lib/hello.ts); undefined: no field (Go-compatible peer). */
  readonly features?: number | undefined;
  /** Statistics are kept per group (default 'all'). */
  readonly group?: string | undefined;
  /** Keep order-independent checksums of the received routes. */
  readonly sums?: boolean | undefined;
  /** Keep the exact view of the received routes (a Map; a few receivers only). */
  readonly view?: boolean | undefined;
  /** With a TLS target: this client's certificate and key (PEM files). */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined;
}

export interface Target {
  readonly host: string;
  readonly port: number;
  /** Connect over TLS, verifying the server against this CA (PEM file). */
  readonly tls?: { readonly ca: string } | undefined;
}

export type Command =
  | {
      readonly op: 'connect';
      readonly target: Target;
      readonly conns: readonly ConnSpec[];
      readonly keepalive: number;
      readonly keepaliveEveryMs: number;
      readonly timeoutMs: number;
    }
  /** Fan-out: build the frames of these clients (conn id `c{client}`). */
  | {
      readonly op: 'fanoutPrepare';
      readonly clients: readonly number[];
      /** Number of clients over all workers (paced clients are phased by index / of). */
      readonly of: number;
      readonly vni: number;
      readonly batch: number;
      readonly cycle: number;
      /** Updates per publisher before it stops by itself (whole batches; 0 = no limit). */
      readonly limit: number;
    }
  /** Start publishing; `ratePerClient` updates/s (0: as fast as the sockets take them). */
  | { readonly op: 'fanoutStart'; readonly ratePerClient: number }
  /** Stop after the current batch's withdrawals; replies with the final sent counts. */
  | { readonly op: 'fanoutStop' }
  /** Announce the table routes of `announcer` on conn `id`, `window` frames per round trip. */
  | {
      readonly op: 'tableAnnounce';
      readonly id: string;
      readonly announcer: number;
      readonly count: number;
      readonly vni: number;
      readonly window: number;
      readonly timeoutMs: number;
    }
  /** Send the probe route's ADD or REMOVE on conn `id`. */
  | { readonly op: 'probe'; readonly id: string; readonly vni: number; readonly remove: boolean }
  /** Wait until every listed conn has counted at least `adds` ADDs and `removes` REMOVEs. */
  | {
      readonly op: 'wait';
      readonly ids: readonly string[];
      readonly adds: number;
      readonly removes: number;
      readonly timeoutMs: number;
      readonly stallMs?: number | undefined;
    }
  /** KEEPALIVE round trip on each listed conn (everything the server sent before is in). */
  | { readonly op: 'roundTrip'; readonly ids: readonly string[]; readonly timeoutMs: number }
  /** Reset the receive counters of the listed conns (all when omitted). */
  | { readonly op: 'reset'; readonly ids?: readonly string[] }
  /** SUBSCRIBE on conn `id`; with `then`, the reply's `at` is when that condition first held. */
  | {
      readonly op: 'subscribe';
      readonly id: string;
      readonly vni: number;
      readonly then?: WaitSpec | undefined;
    }
  /** Closes the listed conns; with `then`, the reply's `at` is when that condition first held. */
  | { readonly op: 'close'; readonly ids: readonly string[]; readonly then?: WaitSpec | undefined }
  | { readonly op: 'stats' }
  /** Resolves once no UPDATE arrived on any listed conn for `ms` (bounded by `timeoutMs`). */
  | {
      readonly op: 'quiet';
      readonly ids: readonly string[];
      readonly ms: number;
      readonly timeoutMs: number;
    }
  /** Per-connection details (counts, SYNCED, checksums, view). */
  | { readonly op: 'details'; readonly ids: readonly string[] }
  /**
   * Snapshot storm: SUBSCRIBE on every listed conn at once, then wait until each has `adds` ADDs;
   * per conn the completion time or why it failed (never rejects for one conn).
   */
  | {
      readonly op: 'storm';
      readonly ids: readonly string[];
      readonly vni: number;
      readonly adds: number;
      readonly timeoutMs: number;
      readonly stallMs: number;
    };

/** A condition on one connection's receive counters. */
export interface WaitSpec {
  readonly id: string;
  readonly adds: number;
  readonly removes: number;
  readonly timeoutMs: number;
  /** Give up when no UPDATE arrived for this long. */
  readonly stallMs?: number | undefined;
}

export type Request = Command & { readonly seq: number };

export interface ConnCounts {
  readonly adds: number;
  readonly removes: number;
}

/** What a set of connections received. */
export interface GroupStats {
  readonly conns: number;
  /** Received, summed over the connections. */
  readonly adds: number;
  readonly removes: number;
  /** Smallest and largest number of UPDATEs received by one connection. */
  readonly minPerConn: number;
  readonly maxPerConn: number;
  readonly lastUpdateAt: number;
  readonly lost: number;
  readonly synced: number;
  readonly refused: number;
  /** Connections that received a different number of ADDs and REMOVEs. */
  readonly unbalanced: number;
  /** UPDATEs sent by the publishers among these connections. */
  readonly ownSentAdds: number;
  readonly ownSentRemoves: number;
  /** Views kept (connections with `view`): routes present, duplicates, REMOVEs of absent routes. */
  readonly views: number;
  readonly viewSize: number;
  readonly viewAddPresent: number;
  readonly viewRemoveAbsent: number;
  readonly viewSamples: readonly string[];
  /** Connections per `features` seen in the server's HELLO ('none' when absent). */
  readonly serverFeatures: Readonly<Record<string, number>>;
}

/** Zero statistics of an empty group. */
/** GroupStats being summed up. */
export type GroupAcc = { -readonly [K in keyof GroupStats]: GroupStats[K] } & {
  viewSamples: string[];
  serverFeatures: Record<string, number>;
};

export function emptyGroup(): GroupAcc {
  return {
    conns: 0,
    adds: 0,
    removes: 0,
    minPerConn: 0,
    maxPerConn: 0,
    lastUpdateAt: 0,
    lost: 0,
    synced: 0,
    refused: 0,
    unbalanced: 0,
    ownSentAdds: 0,
    ownSentRemoves: 0,
    views: 0,
    viewSize: 0,
    viewAddPresent: 0,
    viewRemoveAbsent: 0,
    viewSamples: [],
    serverFeatures: {},
  };
}

export interface WorkerStats extends GroupStats {
  /** UPDATE frames handed to write() by publishers. */
  readonly sentAdds: number;
  readonly sentRemoves: number;
  readonly groups: Readonly<Record<string, GroupStats>>;
  readonly lostReasons: readonly string[];
}

export interface ConnDetail {
  readonly adds: number;
  readonly removes: number;
  readonly synced: number;
  readonly refused: number;
  readonly lastSyncedVni: number | undefined;
  readonly serverFeatures: number | undefined;
  readonly lastUpdateAt: number;
  readonly subscribedAt: number;
  readonly addSum: SumValue | undefined;
  readonly removeSum: SumValue | undefined;
  readonly view: ViewReport | undefined;
  readonly lost: string | undefined;
}

export interface StormOutcome {
  /** Time the conn reached the ADD count. */
  readonly completedAt?: number;
  readonly error?: string;
}

export interface Reply {
  readonly seq: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Time (ms since the epoch, sub-ms) the operation completed or the condition first held. */
  readonly at?: number;
  /** When the action started: first frame written (tableAnnounce), SUBSCRIBE sent, close. */
  readonly startedAt?: number;
  readonly stats?: WorkerStats;
  readonly counts?: Readonly<Record<string, ConnCounts>>;
  readonly details?: Readonly<Record<string, ConnDetail>>;
  readonly storm?: Readonly<Record<string, StormOutcome>>;
}

/** Pushed by a worker without a request. */
export interface WorkerEvent {
  readonly event: 'stats' | 'lost';
  readonly stats?: WorkerStats;
  readonly id?: string;
  readonly reason?: string;
}

export function isReply(m: unknown): m is Reply {
  return typeof m === 'object' && m !== null && typeof (m as { seq?: unknown }).seq === 'number';
}

export function isWorkerEvent(m: unknown): m is WorkerEvent {
  return (
    typeof m === 'object' && m !== null && typeof (m as { event?: unknown }).event === 'string'
  );
}

export function isRequest(m: unknown): m is Request {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { seq?: unknown }).seq === 'number' &&
    typeof (m as { op?: unknown }).op === 'string'
  );
}
