/** Public types of the kernel route installer. */

import type { SyncedEvent } from '../client/types.js';
import type { Logger } from '../log.js';
import type { Vni } from '../model/route.js';

/**
 * Re-sync signals of a MetalBond client (MetalBondClient satisfies it). The installer keeps the
 * routes it finds in the kernel at start until each VNI is re-synced or the hold time ends.
 */
export interface ResyncSignals {
  /** Graceful-restart hold time in ms; 0 = Go's behaviour (sweep stale kernel routes at start). */
  readonly holdTimeMs: number;
  /** True when at least one server has synced this VNI since the current subscription. */
  isSynced(vni: number): boolean;
  on(event: 'synced', listener: (e: SyncedEvent) => void): unknown;
  off(event: 'synced', listener: (e: SyncedEvent) => void): unknown;
}

export interface KernelRouteInstallerOptions {
  /** VNI -> kernel routing table id (1..4294967295); several VNIs may share a table. */
  readonly tables: ReadonlyMap<Vni, number>;
  /** Tunnel device (ip6tnl in `mode any external`). Default `ip6tnl0`. */
  readonly device?: string;
  /** Install IPv4 destinations only. */
  readonly ipv4Only?: boolean;
  /**
   * The client's re-sync signals. Given here, the hold time is theirs. When the client is created
   * after the installer (it takes the installer as its handler), pass `holdTimeMs` here and call
   * attachResync(client) once it exists.
   */
  readonly resync?: ResyncSignals;
  /**
   * Hold time for the routes found in the kernel at start when `resync` is not given: 0 (the
   * default, as Go MetalBond) removes them at once; otherwise they stay until their VNIs re-sync
   * (attachResync) or this many ms have passed.
   */
  readonly holdTimeMs?: number;
  /**
   * Follow route events (default true): a route of ours deleted or changed by someone else is
   * put right at once. Without them only the periodic reconcile does it (cheaper where other
   * software changes many routes).
   */
  readonly routeEvents?: boolean;
  /** Full comparison with the kernel every this many ms (0: never). Default 60000. */
  readonly reconcileIntervalMs?: number;
  /** Requests in flight at most (default: what the socket receive buffer holds, <= 1024). */
  readonly window?: number;
  /** Requests per datagram at most. Default 64. */
  readonly batch?: number;
  /** Back-off for transient errors (ENOBUFS, EBUSY): first retry and cap, ms. 50 / 5000. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly logger?: Logger;
}

export interface OpCounters {
  ok: number;
  error: number;
}

/** Counters of an installer (a live plain object; read it, do not change it). */
export interface KernelCounters {
  /** Kernel routes (table, prefix) of ours in the kernel now. */
  routesInstalled: number;
  /** Netlink requests by kind (route replace, route delete, nexthop object create or delete,
   * dump) and result; a retried request counts each time. */
  ops: { replace: OpCounters; delete: OpCounters; nexthop: OpCounters; dump: OpCounters };
  /** Failed requests by errno name (EINVAL, ENOBUFS, ...). */
  errorsByErrno: Record<string, number>;
  /** Transient failures retried after a back-off. */
  retries: number;
  /** Kernel routes put right after they were lost or changed behind our back, by cause. */
  repairs: number;
  repairsByReason: {
    /** The tunnel device came up again or was re-created. */
    device: number;
    /** One of our routes was deleted by someone else. */
    deleted: number;
    /** One of our routes was changed by someone else. */
    changed: number;
    /** A periodic reconcile found one of our routes missing. */
    missing: number;
    /** A protocol-254 route in one of our tables that we do not carry was removed. */
    foreign: number;
  };
  /** Full comparisons with the kernel done (start, periodic, after an overflow). */
  reconciles: number;
  /** Routes found at start: kept (re-announced by the servers) or removed when reconciled. */
  staleKept: number;
  staleRemoved: number;
  /** Handler calls not installed: IPv6 with ipv4Only, or a VNI without a table. */
  skippedIpv6: number;
  skippedNoTable: number;
  /** Netlink receive buffer overflows (messages lost, then recovered by a reconcile). */
  overruns: number;
  /** Datagrams sent to the kernel. */
  datagrams: number;
}

/** A kernel route as the installer keeps it (for status pages and tests). */
export interface KernelRouteInfo {
  readonly table: number;
  /** Prefix with host bits cleared, e.g. `10.0.1.0/24`. */
  readonly destination: string;
  /** Next-hop (encap destination) addresses, sorted. */
  readonly nextHops: readonly string[];
  /** What the kernel holds as far as known (same form; undefined: not installed). */
  readonly installed: readonly string[] | undefined;
  /** errno name of the kernel's last refusal, if any. */
  readonly error: string | undefined;
}

export function newCounters(): KernelCounters {
  return {
    routesInstalled: 0,
    ops: {
      replace: { ok: 0, error: 0 },
      delete: { ok: 0, error: 0 },
      nexthop: { ok: 0, error: 0 },
      dump: { ok: 0, error: 0 },
    },
    errorsByErrno: {},
    retries: 0,
    repairs: 0,
    repairsByReason: { device: 0, deleted: 0, changed: 0, missing: 0, foreign: 0 },
    reconciles: 0,
    staleKept: 0,
    staleRemoved: 0,
    skippedIpv6: 0,
    skippedNoTable: 0,
    overruns: 0,
    datagrams: 0,
  };
}

export type RepairReason = keyof KernelCounters['repairsByReason'];
