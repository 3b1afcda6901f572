/**
 * Limits and access flags: `tsbond server --allow CIDR --authorization FILE --tls-listen ADDR
 * --tls-cert F --tls-key F --tls-ca F --max-...`, `tsbond client --tls-cert F --tls-key F
 * --tls-ca F` (for `tls://` servers), and SIGHUP reloading the authorisation file and certificates.
 */

import { InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { AuthorizationLoader } from '../access/authorization-loader.js';
import { parseCidr } from '../access/cidr.js';
import { DEFAULT_LIMITS, type Limits } from '../access/limits.js';
import { TlsCredentials } from '../access/tls.js';
import { listParser } from './common.js';
import type { Logger } from '../log.js';
import type { ServerConfig } from '../server/config.js';
import type { MetalBondServer } from '../server/server.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export interface ServerAccessFlags extends TlsFlags {
  allow: string[];
  authorization?: string;
  tlsListen?: string;
  maxRoutesPerPeer: number;
  maxRoutesPerPeerPerVni: number;
  maxSubscriptionsPerPeer: number;
  maxConnections: number;
}

function count(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new CommanderArgError('must be a whole number >= 0');
  return Number(value);
}

function tlsOptions(): Option[] {
  return [
    new Option('--tls-cert <file>', 'our certificate (PEM) for mutual TLS'),
    new Option('--tls-key <file>', 'its private key (PEM)'),
    new Option('--tls-ca <file>', 'the CA (PEM) that signs the certificates of the other side'),
  ];
}

export function serverAccessOptions(): Option[] {
  const limit = (flag: string, what: string, def: number): Option =>
    new Option(`${flag} <n>`, what).argParser(count).default(def);
  return [
    new Option(
      '--allow <cidr>',
      'accept connections only from these prefixes (repeatable or comma-separated; others are closed before any reply)',
    )
      .argParser(
        listParser((v) => {
          parseCidr(v);
          return v;
        }),
      )
      .default([]),
    new Option(
      '--authorization <file>',
      'YAML rules mapping identities (TLS subject/SAN, source CIDR) to the VNIs they may announce and subscribe to; reloaded on SIGHUP',
    ),
    new Option('--tls-listen <addr>', 'also listen for tsbond peers over mutual TLS on HOST:PORT'),
    ...tlsOptions(),
    limit('--max-routes-per-peer', 'routes one peer may announce', DEFAULT_LIMITS.maxRoutesPerPeer),
    limit(
      '--max-routes-per-peer-per-vni',
      'routes one peer may announce in one VNI',
      DEFAULT_LIMITS.maxRoutesPerPeerPerVni,
    ),
    limit(
      '--max-subscriptions-per-peer',
      'VNIs one peer may subscribe to',
      DEFAULT_LIMITS.maxSubscriptionsPerPeer,
    ),
    limit('--max-connections', 'connections in all', DEFAULT_LIMITS.maxConnections),
  ];
}

export function clientTlsFlagOptions(): Option[] {
  return tlsOptions();
}

/** TLS credentials from the three flags: all or none. */
export function tlsCredentialsFrom(flags: TlsFlags, forWhat: string): TlsCredentials | undefined {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (
    given !== 3 ||
    flags.tlsCert === undefined ||
    flags.tlsKey === undefined ||
    flags.tlsCa === undefined
  ) {
    throw new CommanderArgError(`${forWhat} needs --tls-cert, --tls-key and --tls-ca together`);
  }
  return TlsCredentials.loadSync({ cert: flags.tlsCert, key: flags.tlsKey, ca: flags.tlsCa });
}

/** The server configuration the access flags ask for, and the authorisation loader if any. */
export function serverAccessConfig(flags: ServerAccessFlags): {
  config: Pick<ServerConfig, 'allow' | 'limits' | 'authorization' | 'tls'>;
  loader: AuthorizationLoader | undefined;
} {
  const limits: Limits = {
    maxRoutesPerPeer: flags.maxRoutesPerPeer,
    maxRoutesPerPeerPerVni: flags.maxRoutesPerPeerPerVni,
    maxSubscriptionsPerPeer: flags.maxSubscriptionsPerPeer,
    maxConnections: flags.maxConnections,
  };
  const loader =
    flags.authorization === undefined
      ? undefined
      : AuthorizationLoader.loadSync(flags.authorization);
  const credentials = tlsCredentialsFrom(flags, '--tls-listen');
  if ((credentials === undefined) !== (flags.tlsListen === undefined)) {
    throw new CommanderArgError('--tls-listen and --tls-cert/--tls-key/--tls-ca go together');
  }
  return {
    config: {
      allow: flags.allow,
      limits,
      authorization: loader?.policy,
      tls:
        flags.tlsListen === undefined || credentials === undefined
          ? undefined
          : { listen: flags.tlsListen, credentials },
    },
    loader,
  };
}

/** SIGHUP: reload the authorisation file and the TLS certificates (failures keep what is in force). */
export function reloadOnHangup(
  server: MetalBondServer,
  loader: AuthorizationLoader | undefined,
  log: Logger,
): void {
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'reloading');
    void (async () => {
      if (loader !== undefined) {
        const r = await loader.reload();
        if (r.ok) server.setAuthorization(r.policy);
        else
          log.error(
            { err: r.error.message },
            'authorization reload failed; the previous rules stay',
          );
      }
      await server.reloadTls();
    })().catch((e: unknown) => {
      log.error({ err: e }, 'reload failed');
    });
  });
}
