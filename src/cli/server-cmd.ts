/** `tsbond server`: run a route server. */

import { Command } from 'commander';

import { serverStatusSource } from '../http/server-source.js';
import { DEFAULT_LISTEN, DEFAULT_SYNC_DELAY_MS } from '../server/config.js';
import { MetalBondServer } from '../server/server.js';
import {
  fail,
  logOptions,
  loggerFrom,
  onSignals,
  pacingFrom,
  pacingOptions,
  parseDuration,
  parseSeconds,
  type LogFlags,
} from './common.js';
import { httpOptions, startHttpFromFlags, type HttpFlags } from './http-options.js';
import {
  reloadOnHangup,
  serverAccessConfig,
  serverAccessOptions,
  type ServerAccessFlags,
} from './access-options.js';

interface ServerFlags extends LogFlags, HttpFlags, ServerAccessFlags {
  listen: string;
  keepalive: number;
  pacing: number | false;
  extensions: boolean;
  syncDelay: number;
}

export function serverCommand(): Command {
  const cmd = new Command('server')
    .description('run a MetalBond route server')
    .option('-l, --listen <addr>', 'listen address', DEFAULT_LISTEN)
    .option('--keepalive <seconds>', 'keepalive interval offered to peers', parseSeconds, 5)
    .option(
      '--sync-delay <seconds>',
      'hold SYNCED back this long after start, so reconnecting announcers are in the view first',
      parseDuration,
      DEFAULT_SYNC_DELAY_MS / 1000,
    );
  for (const o of [...pacingOptions(), ...serverAccessOptions(), ...httpOptions(), ...logOptions()])
    cmd.addOption(o);
  cmd.action(async (flags: ServerFlags) => {
    const log = loggerFrom(flags);
    let access: ReturnType<typeof serverAccessConfig>;
    try {
      access = serverAccessConfig(flags);
    } catch (e) {
      return fail(e);
    }
    const server = await MetalBondServer.start(flags.listen, {
      keepalive: flags.keepalive,
      pacing: pacingFrom(flags.pacing),
      extensions: flags.extensions,
      syncDelayMs: flags.syncDelay * 1000,
      ...access.config,
      logger: log,
    }).catch(fail);
    reloadOnHangup(server, access.loader, log);
    const stopHttp = await startHttpFromFlags(serverStatusSource(server), flags, log).catch(
      async (e: unknown) => {
        await server.shutdown();
        return fail(e);
      },
    );
    onSignals(async () => {
      await stopHttp();
      await server.shutdown();
    }, log);
  });
  return cmd;
}
