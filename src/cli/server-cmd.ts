/** `tsbond server`: run a route server. */

import { Command } from 'commander';

import { serverStatusSource } from '../http/server-source.js';
import { DEFAULT_LISTEN } from '../server/config.js';
import { MetalBondServer } from '../server/server.js';
import {
  fail,
  logOptions,
  loggerFrom,
  onSignals,
  pacingFrom,
  pacingOptions,
  parseSeconds,
  type LogFlags,
} from './common.js';
import { httpOptions, startHttpFromFlags, type HttpFlags } from './http-options.js';

interface ServerFlags extends LogFlags, HttpFlags {
  listen: string;
  keepalive: number;
  pacing: number | false;
}

export function serverCommand(): Command {
  const cmd = new Command('server')
    .description('run a MetalBond route server')
    .option('-l, --listen <addr>', 'listen address', DEFAULT_LISTEN)
    .option('--keepalive <seconds>', 'keepalive interval offered to peers', parseSeconds, 5);
  for (const o of [...pacingOptions(), ...httpOptions(), ...logOptions()]) cmd.addOption(o);
  cmd.action(async (flags: ServerFlags) => {
    const log = loggerFrom(flags);
    const server = await MetalBondServer.start(flags.listen, {
      keepalive: flags.keepalive,
      pacing: pacingFrom(flags.pacing),
      logger: log,
    }).catch(fail);
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
