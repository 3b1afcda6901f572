/** Listening sockets of the server: binding with a clear error, and the bound address. */

import type { Server } from 'node:net';

import { IoError } from '../errors.js';
import { formatHostPort, type HostPort } from '../net-address.js';

/**
 * Binds `server` (plain or TLS) to `hp` with a listen backlog of `backlog`; rejects with an
 * IoError naming the address (and "address already in use" for EADDRINUSE).
 */
export async function listenOn(
  server: Server,
  hp: HostPort,
  backlog: number,
  label = '',
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      reject(new IoError(`cannot listen on ${formatHostPort(hp)}${label}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: hp.host, port: hp.port, backlog }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The address `server` is bound to (undefined before it listens and after it closed). */
export function boundAddress(server: Server | undefined): HostPort | undefined {
  const a = server?.address();
  return typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : undefined;
}
