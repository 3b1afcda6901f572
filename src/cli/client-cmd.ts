/** `tsbond client`: connect to servers, subscribe, announce, print route changes on stdout. */

import { Command, InvalidArgumentError as CommanderArgError } from 'commander';

import {
  DEFAULT_HOLD_TIME_SECONDS,
  DEFAULT_MAX_HANDLER_CALLS,
  MetalBondClient,
  TLS_SCHEME,
  parseServerAddress,
} from '../client/client.js';
import type { TlsCredentials } from '../access/tls.js';
import { clientTlsFlagOptions, tlsCredentialsFrom, type TlsFlags } from './access-options.js';
import { clientStatusSource } from '../http/client-source.js';
import { parseAnnouncement, type Announcement } from '../model/announcement.js';
import { parseVni, type Route } from '../model/route.js';
import {
  fail,
  logOptions,
  loggerFrom,
  onSignals,
  pacingFrom,
  pacingOptions,
  parseCount,
  parseDuration,
  parseSeconds,
  type LogFlags,
  listParser,
} from './common.js';
import { formatRouteChange } from './format.js';
import { httpOptions, startHttpFromFlags, type HttpFlags } from './http-options.js';
import { kernelOptions, startKernelRoutes, type KernelFlags } from './kernel-flags.js';

interface ClientFlags extends LogFlags, HttpFlags, TlsFlags, KernelFlags {
  server: string[];
  vni: number[];
  subscribe: number[];
  announce: Announcement[];
  keepalive: number;
  window: number;
  pacing: number | false;
  extensions: boolean;
  holdTime: number;
  maxHandlerCalls: number;
}

export function clientCommand(): Command {
  const cmd = new Command('client')
    .description(
      'connect to one or more servers, subscribe to VNIs, announce routes, print route changes',
    )
    .requiredOption(
      '-s, --server <addr>',
      'server address HOST:PORT, or tls://HOST:PORT for mutual TLS (repeatable, or comma-separated)',
      listParser((s) => {
        parseServerAddress(s);
        return s;
      }),
    )
    .option(
      '-v, --vni <vni>',
      'VNI to subscribe to (repeatable, or comma-separated)',
      listParser(parseVni),
      [],
    )
    .option('--subscribe <vni>', 'same as --vni', listParser(parseVni), [])
    .option(
      '-a, --announce <route>',
      'route to announce: VNI#PREFIX@NEXTHOP[#TYPE[#FROM#TO]] or VNI#PREFIX#NEXTHOP[#TYPE][#FROM#TO] (repeatable)',
      listParser(parseAnnouncement),
      [],
    )
    .option('--keepalive <seconds>', 'keepalive interval offered to servers', parseSeconds, 5);
  cmd.option(
    '--hold-time <seconds>',
    'graceful restart: keep the routes of a lost server this long for it to come back and re-send them (0: remove at once, as Go MetalBond does)',
    parseDuration,
    DEFAULT_HOLD_TIME_SECONDS,
  );
  cmd.option(
    '--max-handler-calls <n>',
    'route handler calls in flight (kernel operations) before reading from servers pauses',
    parseCount,
    DEFAULT_MAX_HANDLER_CALLS,
  );
  cmd.option(
    '--window <bytes>',
    'towards Go MetalBond and rustbond servers: bytes in flight before waiting for a KEEPALIVE round trip',
    (v) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 2048)
        throw new CommanderArgError('must be a whole number of bytes >= 2048');
      return Number(v);
    },
    32 * 1024,
  );
  for (const o of [
    ...pacingOptions(),
    ...kernelOptions(),
    ...clientTlsFlagOptions(),
    ...httpOptions(),
    ...logOptions(),
  ])
    cmd.addOption(o);
  cmd.action(async (flags: ClientFlags) => {
    const log = loggerFrom(flags);
    const vnis = [...new Set([...flags.vni, ...flags.subscribe])];
    let tls: TlsCredentials | undefined;
    try {
      tls = tlsCredentialsFrom(flags, 'a tls:// server');
      if (tls === undefined && flags.server.some((s) => s.startsWith(TLS_SCHEME)))
        throw new CommanderArgError('a tls:// server needs --tls-cert, --tls-key and --tls-ca');
    } catch (e) {
      fail(e);
    }
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
    // Kernel routes (--install-routes): routes found at start are held for the hold time (or
    // until their VNI is re-synced), so an agent restart does not flap them.
    const kernel = await startKernelRoutes(flags, vnis, log, flags.holdTime * 1000);
    const client = MetalBondClient.connect(flags.server, kernel?.wrap(printer) ?? printer, {
      keepalive: flags.keepalive,
      windowBytes: flags.window,
      pacing: pacingFrom(flags.pacing),
      extensions: flags.extensions,
      holdTime: flags.holdTime,
      maxHandlerCalls: flags.maxHandlerCalls,
      subscribe: vnis,
      announce: flags.announce,
      ...(tls !== undefined && { tls }),
      logger: log,
    });
    kernel?.attach(client);
    if (tls !== undefined) {
      const credentials = tls;
      process.on('SIGHUP', () => {
        void credentials.reload().then((r) => {
          if (r.ok) log.info('TLS certificates reloaded (for new sessions)');
          else
            log.error(
              { err: r.error.message },
              'TLS reload failed; the previous certificates stay',
            );
        });
      });
    }
    log.info(
      { servers: flags.server, subscriptions: vnis, announcements: flags.announce.length },
      'client started',
    );
    const stopHttp = await startHttpFromFlags(
      clientStatusSource(client, kernel === undefined ? {} : { kernel: kernel.status }),
      flags,
      log,
    ).catch(async (e: unknown) => {
      await client.shutdown();
      await kernel?.close();
      return fail(e);
    });
    onSignals(async () => {
      await stopHttp();
      await client.shutdown();
      await kernel?.close();
    }, log);
  });
  return cmd;
}
