/**
 * Adapts a MetalBondServer to the HTTP sources (sources.ts). Everything is read from counts the
 * server keeps on insert and delete, or from its sessions, when the page or a scrape asks: nothing
 * is added per route update. Routes are iterated lazily (routeEntries), never copied.
 */

import type { NegotiatedFeatures } from '../session/session.js';
import { formatHostPort } from '../net-address.js';
import type { MetalBondServer } from '../server/server.js';
import type { PeerEvent } from '../server/info.js';
import type { Readiness, RouteRow, SessionStatus, Source } from './sources.js';

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

/** Negotiated features as names (REASSEMBLY, SYNC_MARKER, REFUSALS); none for a plain peer. */
export function featureNames(f: NegotiatedFeatures | undefined): string[] {
  if (f?.peer === undefined) return [];
  const out: string[] = [];
  if (f.reassembly) out.push('REASSEMBLY');
  if (f.syncMarker) out.push('SYNC_MARKER');
  if (f.refusals) out.push('REFUSALS');
  return out;
}

export function serverStatusSource(server: MetalBondServer): ServerStatusSource {
  const startedAt = new Date();
  const resets: Record<string, number> = {};
  const onPeer = (e: PeerEvent): void => {
    if (e.type !== 'closed') return;
    const r = resetReason(e.code, e.reason);
    resets[r] = (resets[r] ?? 0) + 1;
  };
  server.on('peer', onPeer);
  const c = server.counters;

  const source: ServerStatusSource = {
    role: 'server',
    startedAt,
    describe: () => `server on ${formatHostPort(server.address)}`,
    sessions: (): SessionStatus[] =>
      server.peers().map((p) => ({
        address: p.address,
        state: p.state,
        connectedSince: p.connectedSince,
        routes: p.routesOwned,
        subscriptions: p.subscriptions,
        bytesIn: p.bytesIn,
        bytesOut: p.bytesOut,
        messagesIn: p.messagesIn,
        messagesOut: p.messagesOut,
        queuedBytes: p.queuedBytes + p.socketBytes,
        backlogRoutes: p.backlogRoutes,
        readingPaused: p.readingPaused,
        features: featureNames(p.features),
        ...(p.implementation !== undefined && { implementation: p.implementation }),
        ...(p.keepalive !== undefined && { keepalive: p.keepalive }),
        ...(p.establishedSince !== undefined && { establishedSince: p.establishedSince }),
      })),
    vnis: () => server.vnis(),
    routeCount: () => server.routeCount,
    vniRouteCount: (vni) => server.vniRouteCount(vni),
    routes: function* (vni): Generator<RouteRow> {
      for (const r of server.routeEntries(vni))
        yield { vni: r.vni, route: r.route, owners: r.owners };
    },
    changes: () => ({ total: server.routeChanges, perVni: server.vniVersions() }),
    ready: (): Readiness => {
      const ok = server.listening;
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
    },

    // ---- metrics ----
    sessionCounts: () => {
      const out: Record<string, number> = {};
      for (const p of server.peers()) out[p.state] = (out[p.state] ?? 0) + 1;
      return out;
    },
    sessionResets: () => resets,
    bytes: () => {
      const t = server.traffic();
      return { received: t.bytesIn, sent: t.bytesOut };
    },
    messages: () => {
      const t = server.traffic();
      return { received: t.messagesIn, sent: t.messagesOut };
    },
    routeUpdates: () => ({
      received: { add: c.updatesAccepted - c.removesAccepted, remove: c.removesAccepted },
      sent: { add: c.updatesSent - c.removesSent, remove: c.removesSent },
    }),
    routesByFamilyType: () => server.routeKinds(),
    vniCount: () => server.vnis().length,
    subscriptionCount: () => {
      let n = 0;
      for (const p of server.peers()) n += p.subscriptions.length;
      return n;
    },
    invalidUpdates: () => c.invalidUpdatesByReason,
    slowConsumerDisconnects: () => c.slowConsumerDisconnects,
    backlogRoutes: () => server.backlogRoutes,
    queuedBytes: () => {
      let n = 0;
      for (const p of server.peers()) n += p.queuedBytes + p.socketBytes;
      return n;
    },
    flowControlPauses: () => c.flowControlPauses,
    connectionsAccepted: () => c.connectionsAccepted,
    refusals: () => ({ update: c.refusedUpdates, subscribe: c.refusedSubscriptions }),
    onSnapshotDone: (cb) => {
      const listener = (e: { durationMs: number; routes: number }): void => {
        cb(e.durationMs / 1000, e.routes);
      };
      server.on('snapshot', listener);
      return () => {
        server.off('snapshot', listener);
      };
    },
  };
  return source;
}
