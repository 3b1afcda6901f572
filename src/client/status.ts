/** What the client reports: per-server status, counters, refused routes. */

import { routeFromKey } from '../model/wire-route.js';
import type { Route } from '../model/route.js';
import { RefusedKind, type RefusedMessage } from '../wire/messages.js';
import type { ServerConnection } from './connection.js';
import type { ClientCounters, ServerStatus } from './types.js';

export function newClientCounters(): ClientCounters {
  return {
    invalidUpdates: 0,
    handlerErrors: 0,
    listenerErrors: 0,
    internalErrors: 0,
    refusals: 0,
    refusedUpdates: 0,
    refusedSubscriptions: 0,
    updatesReceived: 0,
    removesReceived: 0,
    updatesSent: 0,
    removesSent: 0,
    routesAdded: 0,
    routesRemoved: 0,
  };
}

const sorted = (vnis: Iterable<number> | undefined): number[] =>
  [...(vnis ?? [])].sort((a, b) => a - b);

/** The status of one server connection. */
export function serverStatus(c: ServerConnection): ServerStatus {
  const s = c.established ? c.session : undefined;
  const any = c.session;
  return {
    index: c.index,
    address: c.address,
    state: c.state,
    keepalive: s?.keepaliveSeconds,
    features: s?.features,
    implementation:
      s === undefined ? undefined : s.features.peer === undefined ? 'metalbond' : 'tsbond',
    bytesIn: any?.stats.bytesIn ?? 0,
    bytesOut: any?.stats.bytesOut ?? 0,
    messagesIn: any?.stats.messagesIn ?? 0,
    messagesOut: any?.stats.messagesOut ?? 0,
    queuedBytes: any?.queuedBytes ?? 0,
    keepaliveRttMs: c.lastRttMs,
    establishedSince: s?.establishedAt,
    routes: c.routesOf(),
    staleRoutes: c.staleRoutes,
    holdEndsAt: c.holdEndsAt === 0 ? undefined : new Date(c.holdEndsAt),
    synced: sorted(c.sync?.synced),
    refusedSubscriptions: sorted(c.sync?.refused),
    refusedRoutes: [...c.refusedRoutes].map(([key, reason]) => ({ ...routeFromKey(key), reason })),
    connects: c.connects,
    invalidUpdates: c.invalidUpdates,
    echoesIgnored: c.echoes,
    lastError: c.lastError?.message,
  };
}

/** The route a REFUSED of an UPDATE carries, when it is one we can read. */
export function refusedRoute(m: RefusedMessage): Route | undefined {
  if (m.kind !== RefusedKind.UPDATE || m.update === undefined) return undefined;
  try {
    return routeFromKey(Buffer.from(m.update).toString('latin1')).route;
  } catch {
    return undefined; // not a route we can read: reported without it
  }
}
