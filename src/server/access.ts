/**
 * Limits and access on the server (behaviour.md, Limits and access): which connections are
 * admitted (`--allow`, the connection limit), what each peer may announce and subscribe to (the
 * authorisation policy and the per-peer limits), and how refusals are counted and logged (log
 * lines rate-limited, counters never). The decisions themselves are pure (access/limits.ts).
 */

import type { Logger } from '../log.js';
import {
  ALL_RIGHTS,
  rightsFor,
  type AuthorizationPolicy,
  type Rights,
} from '../access/authorization.js';
import type { CidrList } from '../access/cidr.js';
import { describeIdentity, type Identity } from '../access/identity.js';
import {
  LogRateLimiter,
  refuseAdd,
  refuseConnection,
  refuseSubscribe,
  type Limits,
  type Refusal,
} from '../access/limits.js';

export interface AccessCounters {
  /** Connections closed before any reply (outside `--allow`, or over the connection limit). */
  connectionsRefused: number;
  /** Operations refused (REFUSED sent to tsbond peers; dropped alone for the others). */
  refusedUpdates: number;
  refusedSubscriptions: number;
  /** The same by cause (routes-per-peer, subscribe-not-authorized, ...). */
  refusalsByCause: Record<string, number>;
}

/** What access needs to know of a peer. */
export interface AccessPeer {
  readonly identity: Identity;
  rights: Rights;
  /** Routes the peer owns (kept by the server on every ownership change). */
  readonly routesOwned: number;
  readonly refusalLog: LogRateLimiter;
  readonly address: string;
}

export class ServerAccess {
  private policy: AuthorizationPolicy | undefined;
  /** No route limit can be reached below this many routes owned. */
  private readonly routeFloor: number;
  private readonly connectionLog = new LogRateLimiter();

  constructor(
    readonly limits: Limits,
    private readonly allow: CidrList | undefined,
    policy: AuthorizationPolicy | undefined,
    private readonly counters: AccessCounters,
    private readonly log: Logger,
  ) {
    this.policy = policy;
    this.routeFloor = Math.min(limits.maxRoutesPerPeer, limits.maxRoutesPerPeerPerVni);
  }

  /** The policy in force (undefined: every peer may do everything). */
  get authorization(): AuthorizationPolicy | undefined {
    return this.policy;
  }

  /**
   * Whether a new connection from `address` is admitted (`open`: connections open now). A refused
   * one is counted and logged (rate-limited); the caller closes it before any reply.
   */
  admit(address: string | undefined, open: number, listener: string): boolean {
    const why = refuseConnection(this.limits, this.allow, address, open);
    if (why === undefined) return true;
    this.counters.connectionsRefused++;
    const t = this.connectionLog.take();
    if (t.log) {
      this.log.warn(
        {
          peer: address,
          listener,
          why,
          limit: why === 'connection-limit' ? this.limits.maxConnections : undefined,
          suppressed: t.suppressed || undefined,
        },
        why === 'not-allowed'
          ? 'connection refused: address outside --allow'
          : 'connection refused: connection limit reached',
      );
    }
    return false;
  }

  rightsFor(identity: Identity): Rights {
    return rightsFor(this.policy, identity);
  }

  /** Whether ADDs of `peer` need checking (a policy limits it, or it is near a route limit). */
  restricted(peer: AccessPeer): boolean {
    return peer.rights !== ALL_RIGHTS || peer.routesOwned >= this.routeFloor;
  }

  /** An ADD that would make `peer` own one more route in `vni` (owning `inVni` there now). */
  checkAdd(peer: AccessPeer, vni: number, inVni: number): Refusal | undefined {
    return refuseAdd(this.limits, peer.rights, vni, peer.routesOwned, inVni);
  }

  /** A SUBSCRIBE that is not a no-op, by a peer with `subscriptions` VNIs now. */
  checkSubscribe(peer: AccessPeer, vni: number, subscriptions: number): Refusal | undefined {
    return refuseSubscribe(this.limits, peer.rights, vni, subscriptions);
  }

  /** Counts a refusal and logs it (rate-limited per peer). */
  refused(peer: AccessPeer, r: Refusal, log: Logger): void {
    const c = this.counters;
    if (r.kind === 1) c.refusedUpdates++;
    else c.refusedSubscriptions++;
    c.refusalsByCause[r.cause] = (c.refusalsByCause[r.cause] ?? 0) + 1;
    const t = peer.refusalLog.take();
    if (t.log) {
      log.warn(
        {
          kind: r.kind === 1 ? 'UPDATE' : 'SUBSCRIBE',
          vni: r.vni,
          cause: r.cause,
          identity: describeIdentity(peer.identity),
          suppressed: t.suppressed || undefined,
        },
        `refused: ${r.reason}`,
      );
    }
  }

  /** A new policy (a reload): every peer's rights are computed again. */
  setPolicy(policy: AuthorizationPolicy | undefined, peers: Iterable<AccessPeer>): void {
    this.policy = policy;
    for (const p of peers) p.rights = rightsFor(policy, p.identity);
  }
}
