/** IPC messages between the benchmark driver (run.ts) and its load-generator workers (worker.ts). */

export interface ConnSpec {
  readonly id: string;
  /** Subscribe to this VNI right after the handshake. */
  readonly subscribe?: number | undefined;
}

export interface Target {
  readonly host: string;
  readonly port: number;
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
  | { readonly op: 'stats' };

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

export interface WorkerStats {
  /** UPDATE frames handed to write() by publishers. */
  readonly sentAdds: number;
  readonly sentRemoves: number;
  /** Received, summed over the worker's connections. */
  readonly adds: number;
  readonly removes: number;
  /** Smallest and largest number of UPDATEs received by one connection. */
  readonly minPerConn: number;
  readonly maxPerConn: number;
  readonly lastUpdateAt: number;
  readonly conns: number;
  readonly lost: number;
  readonly lostReasons: readonly string[];
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
