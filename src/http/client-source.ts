/**
 * Adapts a MetalBondClient to the HTTP sources (sources.ts), using its public API:
 * serverStates(), receivedRoutes(vni), routeServers(), subscriptions and the 'server' / 'route'
 * events. The 'route' event is one per handler call, which the client makes anyway; the adapter
 * keeps per-VNI and per-family/type counts from it, so reading them costs no scan.
 *
 * Where the client offers more (ClientExtras, ServerStatusExtras, looked up at run time), the
 * adapter uses it: lazy route iteration, per-VNI versions, stale state, sync state, counters.
 */

import type { MetalBondClient } from '../client/client.js';
import type { RouteChangeEvent, ServerStateEvent, ServerStatus } from '../client/types.js';
import type { Route } from '../model/route.js';
import { resetReason, type MessageCounters } from './server-source.js';
import type {
  ChangeCounters,
  Readiness,
  ReadinessCheck,
  RouteRow,
  SessionStatus,
  Source,
} from './sources.js';

/** A received route as the client may list it lazily. */
export interface ReceivedRouteEntry {
  readonly vni: number;
  readonly route: Route;
  /** Indexes of the servers that report it fresh. */
  readonly servers: readonly number[];
  /** Indexes of the servers for which it is kept as stale. */
  readonly staleFor: readonly number[];
}

/** What the client may offer beyond today's API (each optional, feature-detected). */
export interface ClientExtras {
  receivedRouteEntries(vni: number): Iterable<ReceivedRouteEntry>;
  vniVersions(): ReadonlyMap<number, number>;
  readonly routeChanges: number;
  readonly staleRouteCount: number;
  readonly messageCounters: MessageCounters;
  readonly byteCounters: { readonly received: number; readonly sent: number };
  /** UPDATEs received and sent, by action. */
  readonly updateCounters: MessageCounters;
  /** REFUSED received, by kind ('update'|'subscribe'). */
  readonly refusalCounters: Readonly<Record<string, number>>;
  onKeepaliveRtt(cb: (seconds: number, server: string) => void): () => void;
}

/** Per-server fields the client may add to ServerStatus. */
export interface ServerStatusExtras {
  readonly features: readonly string[];
  readonly implementation: string;
  /** VNIs this server has synced (SYNCED or the settle rule) since the current subscription. */
  readonly syncedVnis: readonly number[];
  readonly staleRoutes: number;
  readonly keepaliveRttSeconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly queuedBytes: number;
}

/** The kernel route installer, when the client installs routes (optional). */
export interface KernelStatus {
  healthy(): { readonly ok: boolean; readonly detail: string };
  operations?(): readonly { op: string; result: string; count: number }[];
  routeCount?(): number;
}

export interface ClientSourceOptions {
  readonly kernel?: KernelStatus;
}

type Client = MetalBondClient & Partial<ClientExtras>;
type Status = ServerStatus & Partial<ServerStatusExtras>;

export type ClientStatusSource = Source & { readonly role: 'client' };

function familyType(r: Route): string {
  return `${r.destination.family === 4 ? 'ipv4' : 'ipv6'}|${r.nextHop.type.toLowerCase()}`;
}

function bump<K>(m: Map<K, number>, k: K, d: number): void {
  const v = (m.get(k) ?? 0) + d;
  if (v === 0) m.delete(k);
  else m.set(k, v);
}

export function clientStatusSource(
  client: MetalBondClient,
  options: ClientSourceOptions = {},
): ClientStatusSource {
  const c = client as Client;
  const startedAt = new Date();
  const resets: Record<string, number> = {};
  // Counts kept from the handler calls (see the module comment).
  const perVniRoutes = new Map<number, number>();
  const perVniChanges = new Map<number, number>();
  const byFamilyType = new Map<string, number>();
  let routeTotal = 0;
  let changesTotal = 0;
  for (const { vni, route } of client.receivedRoutes()) {
    bump(perVniRoutes, vni, 1);
    bump(byFamilyType, familyType(route), 1);
    routeTotal++;
  }
  const onRoute = (e: RouteChangeEvent): void => {
    const d = e.action === 'add' ? 1 : -1;
    routeTotal += d;
    bump(perVniRoutes, e.vni, d);
    bump(byFamilyType, familyType(e.route), d);
    perVniChanges.set(e.vni, (perVniChanges.get(e.vni) ?? 0) + 1);
    changesTotal++;
  };
  const onServer = (e: ServerStateEvent): void => {
    if (e.state !== 'RETRY' || e.previous === 'RETRY') return;
    const r = resetReason(e.error?.code, e.error?.message ?? '');
    resets[r] = (resets[r] ?? 0) + 1;
  };
  client.on('route', onRoute);
  client.on('server', onServer);

  const statuses = (): Status[] => client.serverStates();

  const syncCheck = (): ReadinessCheck => {
    const est = statuses().filter((s) => s.state === 'ESTABLISHED');
    if (est.length === 0)
      return { name: 'established', ok: false, detail: 'no server session established' };
    const subs = [...client.subscriptions];
    const withSync = est.filter((s) => s.syncedVnis !== undefined);
    if (withSync.length === 0 || subs.length === 0) {
      return {
        name: 'established',
        ok: true,
        detail: `${String(est.length)} of ${String(statuses().length)} servers established`,
      };
    }
    const synced = withSync.filter((s) => subs.every((v) => s.syncedVnis?.includes(v) === true));
    return synced.length > 0
      ? {
          name: 'synced',
          ok: true,
          detail: `subscriptions synced on ${synced.map((s) => s.address).join(', ')}`,
        }
      : { name: 'synced', ok: false, detail: 'established, subscriptions not yet synced' };
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
        ...(s.keepalive !== undefined && { keepalive: s.keepalive }),
        ...(s.establishedSince !== undefined && { establishedSince: s.establishedSince }),
        ...(s.lastError !== undefined && { lastError: s.lastError }),
        ...(s.features !== undefined && { features: s.features }),
        ...(s.implementation !== undefined && { implementation: s.implementation }),
        ...(s.syncedVnis !== undefined && { syncedVnis: s.syncedVnis }),
        ...(s.staleRoutes !== undefined && { staleRoutes: s.staleRoutes }),
        ...(s.keepaliveRttSeconds !== undefined && { keepaliveRttSeconds: s.keepaliveRttSeconds }),
        ...(s.bytesIn !== undefined && { bytesIn: s.bytesIn }),
        ...(s.bytesOut !== undefined && { bytesOut: s.bytesOut }),
        ...(s.messagesIn !== undefined && { messagesIn: s.messagesIn }),
        ...(s.messagesOut !== undefined && { messagesOut: s.messagesOut }),
        ...(s.queuedBytes !== undefined && { queuedBytes: s.queuedBytes }),
      })),
    vnis: () => [...perVniRoutes.keys()].sort((a, b) => a - b),
    routeCount: () => routeTotal,
    vniRouteCount: (vni) => perVniRoutes.get(vni) ?? 0,
    routes: (vni): Iterable<RouteRow> => {
      const names = statuses().map((s) => s.address);
      const addressOf = (i: number): string => names[i] ?? `server-${String(i)}`;
      if (typeof c.receivedRouteEntries === 'function') {
        const lazy = c.receivedRouteEntries(vni);
        return (function* () {
          for (const e of lazy) {
            yield {
              vni: e.vni,
              route: e.route,
              servers: e.servers.map(addressOf),
              staleFor: e.staleFor.map(addressOf),
            };
          }
        })();
      }
      // Fallback (today): a copy of the VNI's routes; servers looked up per route.
      return client.receivedRoutes(vni).map(({ route }) => ({
        vni,
        route,
        servers: client.routeServers(vni, route).map(addressOf),
      }));
    },
    changes: (): ChangeCounters =>
      typeof c.vniVersions === 'function'
        ? { total: c.routeChanges ?? changesTotal, perVni: c.vniVersions() }
        : { total: changesTotal, perVni: perVniChanges },
    ready: (): Readiness => {
      const checks = [syncCheck()];
      if (options.kernel !== undefined) {
        const k = options.kernel.healthy();
        checks.push({ name: 'kernel', ok: k.ok, detail: k.detail });
      }
      return { ready: checks.every((x) => x.ok), checks };
    },
    close: () => {
      client.off('route', onRoute);
      client.off('server', onServer);
    },

    // ---- metrics ----
    sessionCounts: () => {
      const out: Record<string, number> = {};
      for (const s of statuses()) out[s.state] = (out[s.state] ?? 0) + 1;
      return out;
    },
    sessionResets: () => resets,
    vniCount: () => perVniRoutes.size,
    subscriptionCount: () => client.subscriptions.size,
    routesByFamilyType: () =>
      [...byFamilyType].map(([k, count]) => {
        const [family = '', type = ''] = k.split('|');
        return { family, type, count };
      }),
  };
  if (c.byteCounters !== undefined) source.bytes = () => c.byteCounters ?? { received: 0, sent: 0 };
  if (c.messageCounters !== undefined) source.messages = () => c.messageCounters as MessageCounters;
  if (c.updateCounters !== undefined)
    source.routeUpdates = () => c.updateCounters as MessageCounters;
  if (c.staleRouteCount !== undefined) source.staleRoutes = () => c.staleRouteCount ?? 0;
  if (c.refusalCounters !== undefined) source.refusals = () => c.refusalCounters ?? {};
  if (typeof c.onKeepaliveRtt === 'function') {
    const hook = c.onKeepaliveRtt.bind(c);
    source.onKeepaliveRtt = (cb) =>
      hook((seconds) => {
        cb(seconds);
      });
  }
  const kernel = options.kernel;
  if (kernel?.operations !== undefined) {
    const ops = kernel.operations.bind(kernel);
    source.kernel = () => ({ operations: ops(), routes: kernel.routeCount?.() ?? 0 });
  }
  return source;
}
