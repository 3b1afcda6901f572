/**
 * A KernelRouteInstaller in a network namespace, driven by a kernel test over IPC. Started as
 * `ip netns exec NS node --import tsx test/kernel/agent.ts`; each message { id, cmd, arg } gets
 * { id, ok, value } or { id, ok: false, error: { code, message } }. Resync signals are a fake the
 * test drives (cmd 'synced').
 */

import { EventEmitter } from 'node:events';

import { KernelRouteInstaller } from '../../src/kernel/installer.js';
import type { SyncedEvent } from '../../src/client/types.js';
import type { ResyncSignals } from '../../src/kernel/types.js';
import { createLogger } from '../../src/log.js';
import { MetalBondError } from '../../src/errors.js';
import { parseAnnouncement } from '../../src/model/announcement.js';

export interface AgentOpen {
  tables: [number, number][];
  device?: string;
  ipv4Only?: boolean;
  holdTimeMs?: number;
  /** Give the installer fake re-sync signals with this hold time. */
  resyncHoldMs?: number;
  reconcileIntervalMs?: number;
  routeEvents?: boolean;
}

class FakeSignals extends EventEmitter implements ResyncSignals {
  readonly synced = new Set<number>();
  constructor(readonly holdTimeMs: number) {
    super();
  }
  isSynced(vni: number): boolean {
    return this.synced.has(vni);
  }
}

let installer: KernelRouteInstaller | undefined;
let signals: FakeSignals | undefined;
const log = createLogger({ level: 'info', format: 'json' });

function need(): KernelRouteInstaller {
  if (installer === undefined) throw new Error('not open');
  return installer;
}

async function handle(cmd: string, arg: unknown): Promise<unknown> {
  switch (cmd) {
    case 'open': {
      const o = arg as AgentOpen;
      signals = o.resyncHoldMs === undefined ? undefined : new FakeSignals(o.resyncHoldMs);
      installer = await KernelRouteInstaller.open({
        tables: new Map(o.tables),
        device: o.device ?? 't0',
        ipv4Only: o.ipv4Only === true,
        ...(o.holdTimeMs === undefined ? {} : { holdTimeMs: o.holdTimeMs }),
        ...(signals === undefined ? {} : { resync: signals }),
        reconcileIntervalMs: o.reconcileIntervalMs ?? 0,
        routeEvents: o.routeEvents ?? true,
        logger: log,
      });
      return { device: installer.device };
    }
    case 'add':
    case 'remove':
      for (const text of arg as string[]) {
        const a = parseAnnouncement(text);
        if (cmd === 'add') need().addRoute(a.vni, a.route);
        else need().removeRoute(a.vni, a.route);
      }
      return need().settled(10_000);
    case 'synced': {
      const vni = arg as number;
      if (signals === undefined) throw new Error('no fake signals');
      signals.synced.add(vni);
      const e: SyncedEvent = { server: 'fake', vni, via: 'marker' };
      signals.emit('synced', e);
      return need().settled(10_000);
    }
    case 'settled':
      return need().settled(10_000);
    case 'counters':
      return need().counters;
    case 'routes':
      return need().kernelRoutes();
    case 'reconcile':
      return need().reconcile();
    case 'close':
      await need().close({ cleanup: arg === true });
      return null;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

process.on('message', (m: { id: number; cmd: string; arg: unknown }) => {
  handle(m.cmd, m.arg).then(
    (value) => process.send?.({ id: m.id, ok: true, value }),
    (e: unknown) =>
      process.send?.({
        id: m.id,
        ok: false,
        error: {
          code: e instanceof MetalBondError ? e.code : 'ERROR',
          message: e instanceof Error ? e.message : String(e),
        },
      }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, value: 'ready' });
