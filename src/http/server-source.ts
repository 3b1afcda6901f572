/**
 * Adapts a MetalBondServer to the HTTP sources (sources.ts), using its public API: peers(),
 * vnis(), routes(vni), routeCount, counters and the 'peer' / 'subscription' events (one per session
 * or subscription change, never per route update).
 *
 * Where the server offers more (the methods and fields of ServerExtras, looked up at run time),
 * the adapter uses them; they are what the status page and the metrics need to be exact and cheap
 * at 1,000,000 routes. Until then it falls back as documented per method.
 */

import { formatHostPort } from '../net-address.js';
import type { MetalBondServer } from '../server/server.js';
import type { PeerEvent, PeerInfo, RouteInfo } from '../server/info.js';
import type {
  ChangeCounters,
  Readiness,
  RouteRow,
  SessionStatus,
  Source,
  SourceRole,
} from './sources.js';

/** Per-type message counters over all sessions, ended ones included. */
export interface MessageCounters {
  readonly received: Readonly<Record<string, number>>;
  readonly sent: Readonly<Record<string, number>>;
}

/** What the server may offer beyond today's API (each optional, feature-detected). */
export interface ServerExtras {
  /** The routes of a VNI, lazily (a generator over the table: no copy of the VNI). */
  routeEntries(vni: number): Iterable<RouteInfo>;
  /** Routes in a VNI, from a count kept on insert/delete. */
  vniRouteCount(vni: number): number;
  /** Per-VNI route change counters (incremented by the table on every view change of a route). */
  vniVersions(): ReadonlyMap<number, number>;
  /** Route changes so far, all VNIs. */
  readonly routeChanges: number;
  readonly messageCounters: MessageCounters;
  /** Bytes over all sessions, ended ones included. */
  readonly byteCounters: { readonly received: number; readonly sent: number };
  /** UPDATEs received (accepted) and sent, by action: { add, remove }. */
  readonly updateCounters: MessageCounters;
  /** Routes by family ('ipv4'|'ipv6') and type ('standard'|'nat'|'loadbalancer_target'). */
  routeCountsByFamilyType(): readonly { family: string; type: string; count: number }[];
  /** Invalid UPDATEs dropped, by reason. */
  readonly invalidUpdatesByReason: Readonly<Record<string, number>>;
  /** Route keys in all subscriber backlogs. */
  readonly backlogRoutes: number;
  /** Operations refused (REFUSED sent), by kind ('update'|'subscribe'). */
  readonly refusalCounters: Readonly<Record<string, number>>;
  /** False once shutdown() was called. */
  readonly listening: boolean;
  /** Calls `cb` once per completed snapshot (a subscription's backlog drained once). */
  onSnapshotDone(cb: (e: SnapshotEvent) => void): () => void;
}

/** Per-peer fields the server may add to PeerInfo. */
export interface PeerInfoExtras {
  /** Negotiated tsbond features, e.g. ['REASSEMBLY', 'SYNC_MARKER', 'REFUSALS']. */
  readonly features: readonly string[];
  /** 'tsbond' when the peer sent HELLO field 1000, otherwise undefined. */
  readonly implementation: string;
  readonly backlogRoutes: number;
}

/** A completed snapshot. */
export interface SnapshotEvent {
  readonly peer: string;
  readonly vni: number;
  readonly routes: number;
  readonly seconds: number;
}

type Server = MetalBondServer & Partial<ServerExtras>;
type Peer = PeerInfo & Partial<PeerInfoExtras>;

export type ServerStatusSource = Source & { readonly role: 'server' };

/** Why a session ended, as a metric label. */
export function resetReason(code: string | undefined, reason: string): string {
  if (code === 'PROTOCOL') return 'protocol';
  if (code === 'TIMEOUT') return 'timeout';
  if (reason.startsWith('slow consumer')) return 'slow_consumer';
  if (reason === 'server shutdown') return 'shutdown';
  if (reason.startsWith('connection closed')) return 'closed';
  if (reason.startsWith('cannot connect')) return 'connect_failed';
  if (code === 'IO') return 'io';
  if (code !== undefined) return code.toLowerCase();
  return 'closed';
}

export function serverStatusSource(server: MetalBondServer): ServerStatusSource {
  const s = server as Server;
  const startedAt = new Date();
  const resets: Record<string, number> = {};
  // Totals of ended sessions (their PeerInfo on 'closed' is final); live ones are added at read.
  const ended = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
  // Fallback change counter: UPDATEs accepted plus withdrawals by disconnect and unsubscribe.
  let withdrawnOnClose = 0;
  let subscriptionChanges = 0;
  let listening = true;

  const onPeer = (e: PeerEvent): void => {
    if (e.type !== 'closed') return;
    const r = resetReason(e.code, e.reason);
    if (r === 'shutdown') listening = false;
    resets[r] = (resets[r] ?? 0) + 1;
    ended.bytesIn += e.peer.bytesIn;
    ended.bytesOut += e.peer.bytesOut;
    ended.messagesIn += e.peer.messagesIn;
    ended.messagesOut += e.peer.messagesOut;
    withdrawnOnClose += e.routesWithdrawn;
  };
  const onSubscription = (): void => {
    subscriptionChanges++;
  };
  server.on('peer', onPeer);
  server.on('subscription', onSubscription);
  // Fallback until the server says it: a 'server shutdown' close means it stopped listening.
  const isListening = (): boolean => s.listening ?? listening;

  const liveTotals = (): typeof ended => {
    const t = { ...ended };
    for (const p of server.peers()) {
      t.bytesIn += p.bytesIn;
      t.bytesOut += p.bytesOut;
      t.messagesIn += p.messagesIn;
      t.messagesOut += p.messagesOut;
    }
    return t;
  };

  const toRow = (r: RouteInfo): RouteRow => ({ vni: r.vni, route: r.route, owners: r.owners });

  const source: ServerStatusSource = {
    role: 'server' satisfies SourceRole,
    startedAt,
    describe: () => `server on ${formatHostPort(server.address)}`,
    sessions: (): SessionStatus[] =>
      server.peers().map((p: Peer) => {
        const st: SessionStatus = {
          address: p.address,
          state: p.state,
          connectedSince: p.connectedSince,
          routes: p.routesOwned,
          subscriptions: p.subscriptions,
          bytesIn: p.bytesIn,
          bytesOut: p.bytesOut,
          messagesIn: p.messagesIn,
          messagesOut: p.messagesOut,
          queuedBytes: p.queuedBytes,
          readingPaused: p.readingPaused,
          ...(p.keepalive !== undefined && { keepalive: p.keepalive }),
          ...(p.establishedSince !== undefined && { establishedSince: p.establishedSince }),
          ...(p.features !== undefined && { features: p.features }),
          ...(p.implementation !== undefined && { implementation: p.implementation }),
          ...(p.backlogRoutes !== undefined && { backlogRoutes: p.backlogRoutes }),
        };
        return st;
      }),
    vnis: () => server.vnis(),
    routeCount: () => server.routeCount,
    routes: (vni): Iterable<RouteRow> => {
      if (typeof s.routeEntries === 'function') {
        const lazy = s.routeEntries(vni);
        return (function* () {
          for (const r of lazy) yield toRow(r);
        })();
      }
      // Fallback (today): routes(vni) copies the VNI into an array first.
      return server.routes(vni).map(toRow);
    },
    changes: (): ChangeCounters => {
      if (typeof s.vniVersions === 'function') {
        const perVni = s.vniVersions();
        let total = s.routeChanges;
        if (total === undefined) {
          total = 0;
          for (const v of perVni.values()) total += v;
        }
        return { total, perVni };
      }
      return {
        total: server.counters.updatesAccepted + withdrawnOnClose + subscriptionChanges,
      };
    },
    ready: (): Readiness => {
      const ok = isListening();
      return {
        ready: ok,
        checks: [
          {
            name: 'listening',
            ok,
            detail: ok ? `accepting sessions on ${formatHostPort(server.address)}` : 'shut down',
          },
        ],
      };
    },
    close: () => {
      server.off('peer', onPeer);
      server.off('subscription', onSubscription);
    },

    // ---- metrics ----
    sessionCounts: () => {
      const out: Record<string, number> = {};
      for (const p of server.peers()) out[p.state] = (out[p.state] ?? 0) + 1;
      return out;
    },
    sessionResets: () => resets,
    bytes: () => {
      if (s.byteCounters !== undefined) return s.byteCounters;
      const t = liveTotals();
      return { received: t.bytesIn, sent: t.bytesOut };
    },
    vniCount: () => server.vnis().length,
    subscriptionCount: () => {
      let n = 0;
      for (const p of server.peers()) n += p.subscriptions.length;
      return n;
    },
    invalidUpdates: () => s.invalidUpdatesByReason ?? server.counters.invalidUpdates,
    slowConsumerDisconnects: () => server.counters.slowConsumerDisconnects,
    queuedBytes: () => {
      let n = 0;
      for (const p of server.peers()) n += p.queuedBytes;
      return n;
    },
    flowControlPauses: () => server.counters.flowControlPauses,
    connectionsAccepted: () => server.counters.connectionsAccepted,
  };

  if (typeof s.vniRouteCount === 'function') {
    const count = s.vniRouteCount.bind(s);
    source.vniRouteCount = (vni) => count(vni);
  }
  if (s.messageCounters !== undefined) {
    source.messages = () => s.messageCounters as MessageCounters;
  } else {
    source.messageTotals = () => {
      const t = liveTotals();
      return { received: t.messagesIn, sent: t.messagesOut };
    };
  }
  if (s.updateCounters !== undefined) {
    source.routeUpdates = () => s.updateCounters as MessageCounters;
  } else {
    source.routeUpdatesReceived = () => server.counters.updatesAccepted;
  }
  if (typeof s.routeCountsByFamilyType === 'function') {
    source.routesByFamilyType = () => (s as ServerExtras).routeCountsByFamilyType();
  }
  if (s.backlogRoutes !== undefined) source.backlogRoutes = () => s.backlogRoutes ?? 0;
  if (s.refusalCounters !== undefined) source.refusals = () => s.refusalCounters ?? {};
  if (typeof s.onSnapshotDone === 'function') {
    const hook = s.onSnapshotDone.bind(s);
    source.onSnapshotDone = (cb) =>
      hook((e) => {
        cb(e.seconds, e.routes);
      });
  }
  return source;
}
