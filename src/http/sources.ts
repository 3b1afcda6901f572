/**
 * What the HTTP layer (status page, /routes.json|yaml, /metrics, health) reads from a server or a
 * client. The HTTP code depends on these interfaces only; server-source.ts and client-source.ts
 * adapt MetalBondServer and MetalBondClient to them.
 *
 * Cost rules, so that an open page and a scrape every second cost nothing per route update:
 * - counts and gauges are kept by the core on insert and delete and only read here;
 * - change summaries come from per-VNI version counters read once a second (the HTTP layer diffs
 *   them), never from per-update events;
 * - route iteration is lazy (`Iterable`), so a 1,000,000-route table is walked in slices and never
 *   copied.
 * Fields marked optional are shown when the source provides them and omitted otherwise.
 */

import type { Route } from '../model/route.js';

export type SourceRole = 'server' | 'client';

/** One session as the page lists it: a peer connected to the server, or a server of the client. */
export interface SessionStatus {
  /** Remote address, `[::1]:4711`. */
  readonly address: string;
  /** Session state name (CONNECTING .. CLOSED). */
  readonly state: string;
  /** The peer's implementation as far as known ('tsbond' when it negotiated the extensions). */
  readonly implementation?: string;
  /** Negotiated tsbond features (REASSEMBLY, SYNC_MARKER, REFUSALS); empty: a plain MetalBond peer. */
  readonly features?: readonly string[];
  /** Negotiated keepalive, seconds. */
  readonly keepalive?: number;
  readonly connectedSince?: Date;
  readonly establishedSince?: Date;
  /** Server: routes this peer announces. Client: routes this server currently reports. */
  readonly routes?: number;
  /** VNIs the peer subscribed to (server), or the VNIs subscribed on this server (client). */
  readonly subscriptions?: readonly number[];
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly messagesIn?: number;
  readonly messagesOut?: number;
  /** Outbound bytes queued, not yet handed to the kernel. */
  readonly queuedBytes?: number;
  /** Route keys waiting in the peer's backlog (slow subscriber or snapshot in progress). */
  readonly backlogRoutes?: number;
  readonly readingPaused?: boolean;
  /** Client: connections made to this server so far. */
  readonly connects?: number;
  /** Client: the error that ended the last session. */
  readonly lastError?: string;
  /** Client: VNIs this server has synced since the current subscription. */
  readonly syncedVnis?: readonly number[];
  /** Client: routes of this server kept as stale (graceful restart). */
  readonly staleRoutes?: number;
  /** Client: last keepalive round trip, seconds. */
  readonly keepaliveRttSeconds?: number;
}

/** One route as the page and the exports show it. */
export interface RouteRow {
  readonly vni: number;
  readonly route: Route;
  /** Server: addresses of the peers announcing it. */
  readonly owners?: readonly string[];
  /** Client: servers that currently report it. */
  readonly servers?: readonly string[];
  /** Client: servers for which it is only kept as stale (graceful restart). */
  readonly staleFor?: readonly string[];
}

/** Monotonic change counters, read once a second to build change summaries. */
export interface ChangeCounters {
  /** Route changes so far (any VNI). */
  readonly total: number;
  /** Route changes so far per VNI (absent: the source cannot tell which VNIs changed). */
  readonly perVni?: ReadonlyMap<number, number>;
}

export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly ReadinessCheck[];
}

/** What the page, the route exports and the health endpoints need. */
export interface StatusSource {
  readonly role: SourceRole;
  /** Listen address (server) or the configured servers (client), for the page's header. */
  describe(): string;
  /** When this source started (the page shows the uptime). */
  readonly startedAt: Date;
  sessions(): readonly SessionStatus[];
  /** VNIs holding at least one route, ascending. */
  vnis(): readonly number[];
  /** Routes in all (server: distinct routes in the table; client: routes handed to the handler). */
  routeCount(): number;
  /** Routes of one VNI from a count kept by the core (absent: unknown without a scan). */
  vniRouteCount?(vni: number): number;
  /** The routes of a VNI, lazily: the caller walks it in slices. */
  routes(vni: number): Iterable<RouteRow>;
  changes(): ChangeCounters;
  ready(): Readiness;
  /** Detaches whatever the source attached to the core. */
  close(): void;
}

/** Counters for /metrics, all monotonic unless said otherwise. Keys are label values. */
export interface MetricsSource {
  readonly role: SourceRole;
  /** Sessions by state (gauge). */
  sessionCounts(): Readonly<Record<string, number>>;
  /** Sessions ended, by reason (protocol, timeout, slow_consumer, io, closed, ...). */
  sessionResets(): Readonly<Record<string, number>>;
  /** Bytes over all sessions, ended ones included. */
  bytes(): { readonly received: number; readonly sent: number };
  /** Messages per type (HELLO, KEEPALIVE, SUBSCRIBE, UNSUBSCRIBE, UPDATE, SYNCED, REFUSED). */
  messages(): {
    readonly received: Readonly<Record<string, number>>;
    readonly sent: Readonly<Record<string, number>>;
  };
  /** Route UPDATEs by action (add, remove). */
  routeUpdates(): {
    readonly received: Readonly<Record<string, number>>;
    readonly sent: Readonly<Record<string, number>>;
  };
  /** Routes by family ('ipv4'|'ipv6') and type ('standard'|'nat'|'loadbalancer_target') (gauge). */
  routesByFamilyType(): readonly { family: string; type: string; count: number }[];
  routeCount(): number;
  vniCount(): number;
  /** Subscriptions (server: over all peers; client: VNIs subscribed) (gauge). */
  subscriptionCount(): number;
  /** Invalid UPDATEs dropped, by reason; or their total when the reason is not kept. */
  invalidUpdates(): number | Readonly<Record<string, number>>;
  slowConsumerDisconnects?(): number;
  /** Route keys waiting in subscriber backlogs, all peers (gauge). */
  backlogRoutes?(): number;
  /** Outbound bytes queued over all sessions (gauge). */
  queuedBytes?(): number;
  flowControlPauses?(): number;
  connectionsAccepted?(): number;
  /** Client: routes kept as stale (gauge). */
  staleRoutes?(): number;
  /** Operations refused (REFUSED), by kind (update, subscribe): sent by a server, received by a client. */
  refusals(): Readonly<Record<string, number>>;
  /** Kernel route installer: operations by op and result, routes installed (gauge), health. */
  kernel?(): {
    readonly operations: readonly { op: string; result: string; count: number }[];
    readonly routes: number;
  };
  /** Server: called once per completed snapshot (a subscription's backlog drained once). */
  onSnapshotDone?(cb: (seconds: number, routes: number) => void): () => void;
  /** Client: called once per keepalive round trip measured. */
  onKeepaliveRtt?(cb: (seconds: number) => void): () => void;
}

/** An adapter provides both. */
export type Source = StatusSource & MetricsSource;
