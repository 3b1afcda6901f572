/** `tsbond client`: connect to servers, subscribe, announce, print route changes on stdout. */

import { Command, InvalidArgumentError as CommanderArgError } from 'commander';

import { MetalBondClient } from '../client/client.js';
import { MetalBondError } from '../errors.js';
import { parseAnnouncement, type Announcement } from '../model/announcement.js';
import { parseVni, type Route } from '../model/route.js';
import { parseHostPort } from '../net-address.js';
import {
  logOptions,
  loggerFrom,
  onSignals,
  pacingFrom,
  pacingOptions,
  parseSeconds,
  type LogFlags,
} from './common.js';
import { formatRouteChange } from './format.js';
import { kernelOptions, startKernelRoutes, type KernelFlags } from './kernel-flags.js';

interface ClientFlags extends LogFlags, KernelFlags {
  server: string[];
  vni: number[];
  subscribe: number[];
  announce: Announcement[];
  keepalive: number;
  window: number;
  pacing: number | false;
}

function argParser<T>(parse: (s: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => {
    const out = [...(previous ?? [])];
    for (const part of value.split(',')) {
      const v = part.trim();
      if (v === '') continue;
      try {
        out.push(parse(v));
      } catch (e) {
        throw new CommanderArgError(e instanceof MetalBondError ? e.message : String(e));
      }
    }
    return out;
  };
}

export function clientCommand(): Command {
  const cmd = new Command('client')
    .description(
      'connect to one or more servers, subscribe to VNIs, announce routes, print route changes',
    )
    .requiredOption(
      '-s, --server <addr>',
      'server address HOST:PORT (repeatable, or comma-separated)',
      argParser((s) => {
        parseHostPort(s, 4711);
        return s;
      }),
    )
    .option(
      '-v, --vni <vni>',
      'VNI to subscribe to (repeatable, or comma-separated)',
      argParser(parseVni),
      [],
    )
    .option('--subscribe <vni>', 'same as --vni', argParser(parseVni), [])
    .option(
      '-a, --announce <route>',
      'route to announce: VNI#PREFIX@NEXTHOP[#TYPE[#FROM#TO]] or VNI#PREFIX#NEXTHOP[#TYPE][#FROM#TO] (repeatable)',
      argParser(parseAnnouncement),
      [],
    )
    .option('--keepalive <seconds>', 'keepalive interval offered to servers', parseSeconds, 5);
  cmd.option(
    '--window <bytes>',
    'bytes in flight to a server before waiting for a KEEPALIVE round trip',
    (v) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 2048)
        throw new CommanderArgError('must be a whole number of bytes >= 2048');
      return Number(v);
    },
    32 * 1024,
  );
  for (const o of [...pacingOptions(), ...logOptions(), ...kernelOptions()]) cmd.addOption(o);
  cmd.action(async (flags: ClientFlags) => {
    const log = loggerFrom(flags);
    const vnis = [...new Set([...flags.vni, ...flags.subscribe])];
    const out = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    const printer = {
      addRoute: (vni: number, r: Route) => {
        out(formatRouteChange('add', vni, r));
      },
      removeRoute: (vni: number, r: Route) => {
        out(formatRouteChange('remove', vni, r));
      },
    };
    const kernel = await startKernelRoutes(flags, vnis, log);
    const client = MetalBondClient.connect(flags.server, kernel?.wrap(printer) ?? printer, {
      keepalive: flags.keepalive,
      windowBytes: flags.window,
      pacing: pacingFrom(flags.pacing),
      subscribe: vnis,
      announce: flags.announce,
      logger: log,
    });
    log.info(
      { servers: flags.server, subscriptions: vnis, announcements: flags.announce.length },
      'client started',
    );
    kernel?.attach(client);
    onSignals(async () => {
      await client.shutdown();
      await kernel?.close();
    }, log);
  });
  return cmd;
}
