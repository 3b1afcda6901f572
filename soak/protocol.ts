/** IPC between the soak driver (run.ts) and its worker processes (worker.ts). */

export type ClientKind = 'mb' | 'light';

export type Command =
  | {
      readonly op: 'spawn';
      readonly seq: number;
      /** [client index, VNI] of each client this worker runs. */
      readonly clients: readonly (readonly [number, number])[];
      readonly server: string;
      readonly kind: ClientKind;
      readonly keepalive: number;
      /** Initial announcements: route numbers 0 .. routes-1 of each client. */
      readonly routes: number;
      /** Clients started per 10 ms (a gentle ramp instead of thousands of SYNs at once). */
      readonly rampPer10ms: number;
    }
  | { readonly op: 'status'; readonly seq: number }
  | {
      readonly op: 'announce';
      readonly seq: number;
      readonly items: readonly (readonly [number, number])[];
    }
  | {
      readonly op: 'withdraw';
      readonly seq: number;
      readonly items: readonly (readonly [number, number])[];
    }
  | { readonly op: 'keys'; readonly seq: number; readonly index: number }
  | { readonly op: 'stop'; readonly seq: number };

export interface WorkerStatus {
  readonly clients: number;
  readonly established: number;
  /** [client index, view count, view hash] */
  readonly digests: readonly (readonly [number, number, number])[];
  /** Established sessions lost, per client index (only those > 0). */
  readonly drops: readonly (readonly [number, number])[];
  /** Last time (ms since epoch) any client's view changed. */
  readonly lastChangeAt: number;
  readonly operationErrors: number;
  readonly errorSamples: readonly string[];
  readonly rssBytes: number;
  readonly lagP99Ms: number;
}

export interface Reply {
  readonly seq: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly status?: WorkerStatus;
  readonly keys?: readonly string[];
}

export function isReply(m: unknown): m is Reply {
  return typeof m === 'object' && m !== null && 'seq' in m && 'ok' in m;
}
