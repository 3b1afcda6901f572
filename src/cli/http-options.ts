/** `--http`, `--metrics` and `--http-allow-host` for `tsbond server` and `tsbond client`. */

import { Option } from 'commander';

import type { Logger } from '../log.js';
import type { Source } from '../http/sources.js';
import { StatusServer } from '../http/status-server.js';

export interface HttpFlags {
  http?: string;
  metrics?: string;
  httpAllowHost: string[];
}

export function httpOptions(): Option[] {
  return [
    new Option(
      '--http <addr>',
      'serve the status page, /routes.json, /routes.yaml, /metrics, /healthz and /readyz on HOST:PORT, e.g. [::1]:4712 (a port alone: loopback)',
    ),
    new Option(
      '--metrics <addr>',
      'serve only /metrics, /healthz and /readyz on HOST:PORT, e.g. [::]:9712',
    ),
    new Option(
      '--http-allow-host <name>',
      'host name accepted in the Host header of --http besides IP addresses and localhost (repeatable)',
    )
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .default([]),
  ];
}

/** Starts what the flags ask for; returns a function that stops it. */
export async function startHttpFromFlags(
  source: Source,
  flags: HttpFlags,
  log: Logger,
): Promise<() => Promise<void>> {
  const servers: StatusServer[] = [];
  try {
    if (flags.http !== undefined) {
      const s = await StatusServer.start(source, {
        listen: flags.http,
        mode: 'full',
        allowedHosts: flags.httpAllowHost,
        logger: log,
      });
      servers.push(s);
      log.info({ url: s.url }, 'status page');
    }
    if (flags.metrics !== undefined) {
      servers.push(
        await StatusServer.start(source, { listen: flags.metrics, mode: 'metrics', logger: log }),
      );
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    source.close();
    throw e;
  }
  return async () => {
    await Promise.all(servers.map((s) => s.close()));
    source.close();
  };
}
