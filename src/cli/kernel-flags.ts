/**
 * `tsbond client` kernel route flags, with Go MetalBond's names: --install-routes VNI#TABLE
 * (repeatable or comma-separated), --tun DEV, --ipv4-only, --cleanup. The netlink package is
 * loaded only when --install-routes is given.
 */

import { InvalidArgumentError as CommanderArgError, Option } from 'commander';

import type { RouteHandler } from '../client/types.js';
import { MetalBondError } from '../errors.js';
import type { KernelRouteInstaller } from '../kernel/installer.js';
import type { ResyncSignals } from '../kernel/types.js';
import type { Logger } from '../log.js';
import { parseVni, type Route, type Vni } from '../model/route.js';
import type { KernelStatus } from '../http/client-source.js';
import { fail } from './common.js';

export interface KernelFlags {
  installRoutes: [Vni, number][];
  tun: string;
  ipv4Only?: boolean;
  cleanup?: boolean;
}

/** Parses `VNI#TABLE` (table 1..4294967295). */
export function parseInstallRoutes(text: string): [Vni, number] {
  const parts = text.split('#');
  const bad = (why: string): never => {
    throw new CommanderArgError(`'${text}': ${why} (expected VNI#TABLE, e.g. 100#1000)`);
  };
  if (parts.length !== 2) bad('not VNI#TABLE');
  const [vniText, tableText] = parts as [string, string];
  let vni = 0;
  try {
    vni = parseVni(vniText);
  } catch (e) {
    bad(e instanceof MetalBondError ? e.message : String(e));
  }
  if (!/^[0-9]{1,10}$/.test(tableText) || Number(tableText) < 1 || Number(tableText) > 0xffffffff)
    bad(`table '${tableText}' must be a number in 1..4294967295`);
  return [vni, Number(tableText)];
}

export function kernelOptions(): Option[] {
  return [
    new Option(
      '--install-routes <VNI#TABLE>',
      'install the routes of VNI into kernel routing table TABLE (repeatable, or comma-separated)',
    )
      .argParser((value: string, previous: [Vni, number][] | undefined) => {
        const out = [...(previous ?? [])];
        for (const part of value.split(',')) {
          const v = part.trim();
          if (v !== '') out.push(parseInstallRoutes(v));
        }
        return out;
      })
      .default([]),
    new Option(
      '--tun <device>',
      'tunnel device for kernel routes (ip6tnl, mode any external)',
    ).default('ip6tnl0'),
    new Option('--ipv4-only', 'install only IPv4 destinations in the kernel'),
    new Option('--cleanup', 'remove our kernel routes on exit (SIGINT, SIGTERM)'),
  ];
}

export interface KernelRoutes {
  readonly installer: KernelRouteInstaller;
  /** The client's handler: `inner` (printing) and the kernel. */
  wrap(inner: RouteHandler): RouteHandler;
  /** Follows the client's re-sync signals (hold time, SYNCED per VNI). */
  attach(client: ResyncSignals): void;
  /** For the status page, /metrics and /readyz. */
  readonly status: KernelStatus;
  /** Stops; with --cleanup removes our routes first. */
  close(): Promise<void>;
}

/**
 * Opens the installer when --install-routes is given (undefined otherwise). Every subscribed VNI
 * needs a table. On an error, one line on stderr and exit 1.
 */
export async function startKernelRoutes(
  flags: KernelFlags,
  subscribed: readonly Vni[],
  log: Logger,
  holdTimeMs = 0,
): Promise<KernelRoutes | undefined> {
  if (flags.installRoutes.length === 0) return undefined;
  const tables = new Map<Vni, number>();
  for (const [vni, table] of flags.installRoutes) {
    const had = tables.get(vni);
    if (had !== undefined && had !== table)
      fail(`VNI ${String(vni)} is mapped to two tables (${String(had)} and ${String(table)})`);
    tables.set(vni, table);
  }
  const missing = subscribed.filter((v) => !tables.has(v));
  if (missing.length > 0) {
    fail(
      `VNI ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} subscribed but has no routing table: add --install-routes ${String(missing[0])}#TABLE`,
    );
  }
  const { KernelRouteInstaller } = await import('../kernel/installer.js');
  let installer: KernelRouteInstaller;
  try {
    installer = await KernelRouteInstaller.open({
      tables,
      device: flags.tun,
      ipv4Only: flags.ipv4Only === true,
      holdTimeMs,
      logger: log,
    });
  } catch (e) {
    fail(e);
  }
  return {
    installer,
    wrap: (inner) => ({
      addRoute: (vni: Vni, r: Route) => {
        installer.addRoute(vni, r);
        return inner.addRoute(vni, r);
      },
      removeRoute: (vni: Vni, r: Route) => {
        installer.removeRoute(vni, r);
        return inner.removeRoute(vni, r);
      },
    }),
    attach: (client) => {
      installer.attachResync(client);
    },
    status: kernelStatus(installer),
    close: () => installer.close({ cleanup: flags.cleanup === true }),
  };
}

/** The installer as the HTTP shell sees it: operations by kind and result, routes, health. */
export function kernelStatus(installer: KernelRouteInstaller): KernelStatus {
  return {
    healthy: () => {
      const d = installer.device;
      if (d.index === undefined) return { ok: false, detail: `tunnel device ${d.name} missing` };
      if (!d.up) return { ok: false, detail: `tunnel device ${d.name} down` };
      return { ok: true, detail: `${String(installer.counters.routesInstalled)} routes installed` };
    },
    operations: () =>
      Object.entries(installer.counters.ops).flatMap(([op, c]) => [
        { op, result: 'ok', count: c.ok },
        { op, result: 'error', count: c.error },
      ]),
    routeCount: () => installer.counters.routesInstalled,
  };
}
