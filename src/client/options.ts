/** Client options resolved and checked (defaults: behaviour.md, Client and tsbond extensions). */

import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_PORT, parseHostPort, type HostPort } from '../net-address.js';
import { MAX_SERVERS } from '../routing/client-routes.js';
import { checkKeepaliveSeconds, DEFAULT_KEEPALIVE_SECONDS } from '../session/handshake.js';
import { checkPacing } from '../session/pacing.js';
import { ALL_FEATURES } from '../wire/messages.js';
import type { ConnectionOptions } from './connection.js';
import { SETTLE_AFTER_MS, SETTLE_QUIET_MS } from './sync-tracker.js';
import type { ClientOptions } from './types.js';

/** Graceful-restart hold time by default, seconds. */
export const DEFAULT_HOLD_TIME_SECONDS = 60;
/** Promise-returning handler calls in flight by default. */
export const DEFAULT_MAX_HANDLER_CALLS = 1024;
/** Ack window towards servers that do not reassemble the stream, by default. */
export const DEFAULT_WINDOW_BYTES = 32 * 1024;
const MIN_WINDOW_BYTES = 2048;

/** Scheme of a server reached over mutual TLS. */
export const TLS_SCHEME = 'tls://';

/** `HOST:PORT` (plain TCP) or `tls://HOST:PORT` (mutual TLS); port 4711 when omitted. */
export function parseServerAddress(text: string): HostPort & { tls: boolean } {
  const tls = text.startsWith(TLS_SCHEME);
  return { ...parseHostPort(tls ? text.slice(TLS_SCHEME.length) : text, DEFAULT_PORT), tls };
}

export interface ResolvedClientOptions {
  readonly targets: readonly (HostPort & { tls: boolean })[];
  readonly holdTimeMs: number;
  readonly maxHandlerCalls: number;
  /** The options of the connection to server `i` of `targets`. */
  connection(i: number): ConnectionOptions;
}

/** Checks `servers` and `options`; InvalidArgumentError naming what is wrong. */
export function resolveClientOptions(
  servers: readonly string[],
  options: ClientOptions,
  logger: Logger,
): ResolvedClientOptions {
  if (servers.length === 0)
    throw new InvalidArgumentError('at least one server address is required');
  if (servers.length > MAX_SERVERS) {
    throw new InvalidArgumentError(
      `at most ${String(MAX_SERVERS)} servers, got ${String(servers.length)}`,
    );
  }
  const keepalive = checkKeepaliveSeconds(options.keepalive ?? DEFAULT_KEEPALIVE_SECONDS);
  const targets = servers.map((s) => parseServerAddress(s));
  if (targets.some((t) => t.tls) && options.tls === undefined) {
    throw new InvalidArgumentError('tls:// servers need TLS credentials (the tls option)');
  }
  const pacing = checkPacing(options.pacing);
  const windowBytes =
    options.windowBytes === false ? undefined : (options.windowBytes ?? DEFAULT_WINDOW_BYTES);
  if (windowBytes !== undefined && !(windowBytes >= MIN_WINDOW_BYTES)) {
    throw new InvalidArgumentError(
      `windowBytes must be >= ${String(MIN_WINDOW_BYTES)}, got ${String(windowBytes)}`,
    );
  }
  const secondMs = options.secondMs ?? 1000;
  const holdTime = options.holdTime ?? DEFAULT_HOLD_TIME_SECONDS;
  if (!Number.isFinite(holdTime) || holdTime < 0) {
    throw new InvalidArgumentError(`holdTime must be >= 0 seconds, got ${String(holdTime)}`);
  }
  const holdTimeMs = holdTime * secondMs;
  const maxHandlerCalls = options.maxHandlerCalls ?? DEFAULT_MAX_HANDLER_CALLS;
  if (!Number.isInteger(maxHandlerCalls) || maxHandlerCalls < 1) {
    throw new InvalidArgumentError(`maxHandlerCalls must be >= 1, got ${String(maxHandlerCalls)}`);
  }
  const common = {
    keepaliveSeconds: keepalive,
    helloTimeoutMs: options.helloTimeoutMs,
    backoff: { minMs: options.backoffMinMs ?? 1000, maxMs: options.backoffMaxMs ?? 10000 },
    logger,
    secondMs,
    features: options.extensions === false ? undefined : ALL_FEATURES,
    pacing,
    windowBytes,
    holdTimeMs,
    settleQuietMs: (SETTLE_QUIET_MS / 1000) * secondMs,
    settleAfterMs: (SETTLE_AFTER_MS / 1000) * secondMs,
  };
  return {
    targets,
    holdTimeMs,
    maxHandlerCalls,
    connection: (i) => ({ ...common, tls: targets[i]?.tls === true ? options.tls : undefined }),
  };
}
