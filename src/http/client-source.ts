/**
 * Adapts a MetalBondClient to the HTTP sources (sources.ts). Counts (routes per VNI, by family and
 * type, changes per VNI) are kept by the client per handler call and only read here; routes are
 * iterated lazily (receivedRouteEntries), never copied.
 */

import type { MetalBondClient } from '../client/client.js';
import type { ServerStateEvent } from '../client/types.js';
import { featureNames, resetReason } from './server-source.js';
import type { Readiness, ReadinessCheck, RouteRow, SessionStatus, Source } from './sources.js';

/** The kernel route installer, when the client installs routes (optional). */
export interface KernelStatus {
  healthy(): { readonly ok: boolean; readonly detail: string };
  operations?(): readonly { op: string; result: string; count: number }[];
  routeCount?(): number;
}

export interface ClientSourceOptions {
  readonly kernel?: KernelStatus;
}

export type ClientStatusSource = Source & { readonly role: 'client' };

export function clientStatusSource(
  client: MetalBondClient,
  options: ClientSourceOptions = {},
): ClientStatusSource {
  const startedAt = new Date();
  const resets: Record<string, number> = {};
  const onServer = (e: ServerStateEvent): void => {
    if (e.state !== 'RETRY' || e.previous === 'RETRY') return;
    const r = resetReason(e.error?.code, e.error?.message ?? '');
    resets[r] = (resets[r] ?? 0) + 1;
  };
  client.on('server', onServer);
  const c = client.counters;

  const statuses = (): ReturnType<MetalBondClient['serverStates']> => client.serverStates();

  const syncCheck = (): ReadinessCheck => {
    const est = statuses().filter((s) => s.state === 'ESTABLISHED');
    if (est.length === 0)
      return { name: 'established', ok: false, detail: 'no server session established' };
    const subs = [...client.subscriptions];
    if (subs.length === 0) {
      return {
        name: 'established',
        ok: true,
        detail: `${String(est.length)} of ${String(statuses().length)} servers established`,
      };
    }
    const synced = client.syncedVnis();
    return synced.length === subs.length
      ? {
          name: 'synced',
          ok: true,
          detail: `subscriptions synced (${String(est.length)} of ${String(statuses().length)} servers established)`,
        }
      : {
          name: 'synced',
          ok: false,
          detail: `established, ${String(subs.length - synced.length)} of ${String(subs.length)} subscriptions not yet synced`,
        };
  };

  const source: ClientStatusSource = {
    role: 'client',
    startedAt,
    describe: () =>
      `client of ${statuses()
        .map((s) => s.address)
        .join(', ')}`,
    sessions: (): SessionStatus[] =>
      statuses().map((s) => ({
        address: s.address,
        state: s.state,
        routes: s.routes,
        connects: s.connects,
        subscriptions:
          s.state === 'ESTABLISHED' ? [...client.subscriptions].sort((a, b) => a - b) : [],
        features: featureNames(s.features),
        syncedVnis: s.synced,
        staleRoutes: s.staleRoutes,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        messagesIn: s.messagesIn,
        messagesOut: s.messagesOut,
        queuedBytes: s.queuedBytes,
        ...(s.implementation !== undefined && { implementation: s.implementation }),
        ...(s.keepaliveRttMs !== undefined && { keepaliveRttSeconds: s.keepaliveRttMs / 1000 }),
        ...(s.keepalive !== undefined && { keepalive: s.keepalive }),
        ...(s.establishedSince !== undefined && { establishedSince: s.establishedSince }),
        ...(s.lastError !== undefined && { lastError: s.lastError }),
      })),
    vnis: () => client.receivedVnis(),
    routeCount: () => client.receivedRouteCount(),
    vniRouteCount: (vni) => client.receivedRouteCount(vni),
    routes: function* (vni): Generator<RouteRow> {
      for (const r of client.receivedRouteEntries(vni)) {
        yield { vni: r.vni, route: r.route, servers: r.servers, staleFor: r.staleFor };
      }
    },
    changes: () => ({ total: client.routeChanges, perVni: client.vniVersions() }),
    ready: (): Readiness => {
      const checks = [syncCheck()];
      if (options.kernel !== undefined) {
        const k = options.kernel.healthy();
        checks.push({ name: 'kernel', ok: k.ok, detail: k.detail });
      }
      return { ready: checks.every((x) => x.ok), checks };
    },
    close: () => {
      client.off('server', onServer);
    },

    // ---- metrics ----
    sessionCounts: () => {
      const out: Record<string, number> = {};
      for (const s of statuses()) out[s.state] = (out[s.state] ?? 0) + 1;
      return out;
    },
    sessionResets: () => resets,
    vniCount: () => client.receivedVnis().length,
    subscriptionCount: () => client.subscriptions.size,
    routesByFamilyType: () => client.routeKinds(),
    bytes: () => {
      const t = client.traffic();
      return { received: t.bytesIn, sent: t.bytesOut };
    },
    messages: () => {
      const t = client.traffic();
      return { received: t.messagesIn, sent: t.messagesOut };
    },
    routeUpdates: () => ({
      received: { add: c.updatesReceived - c.removesReceived, remove: c.removesReceived },
      sent: { add: c.updatesSent - c.removesSent, remove: c.removesSent },
    }),
    invalidUpdates: () => c.invalidUpdates,
    staleRoutes: () => client.staleRouteCount,
    refusals: () => ({ update: c.refusedUpdates, subscribe: c.refusedSubscriptions }),
    onKeepaliveRtt: (cb) => {
      const listener = (e: { ms: number }): void => {
        cb(e.ms / 1000);
      };
      client.on('keepaliveRtt', listener);
      return () => {
        client.off('keepaliveRtt', listener);
      };
    },
  };
  const kernel = options.kernel;
  if (kernel?.operations !== undefined) {
    const ops = kernel.operations.bind(kernel);
    source.kernel = () => ({ operations: ops(), routes: kernel.routeCount?.() ?? 0 });
  }
  return source;
}
