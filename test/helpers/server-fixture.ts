/** Starts tsbond servers on [::1] with a free port and cleans them up after the test. */

import type { TestContext } from 'node:test';

import { MetalBondServer } from '../../src/server/server.js';
import type { ServerConfig } from '../../src/server/config.js';
import { RawPeer } from './raw-peer.js';

/** A server for a test; SYNCED is not held back (syncDelayMs 0) unless the test says so. */
export async function startServer(
  t: TestContext,
  config: ServerConfig = {},
  listen = '[::1]:0',
): Promise<MetalBondServer> {
  const server = await MetalBondServer.start(listen, { syncDelayMs: 0, ...config });
  t.after(() => server.shutdown());
  return server;
}

/** A raw peer connected and handshaken; closed after the test. */
export async function rawPeer(
  t: TestContext,
  server: MetalBondServer,
  keepalive = 5,
  features?: number,
): Promise<RawPeer> {
  const p = await RawPeer.connect(server.address.port);
  t.after(() => {
    p.close();
  });
  await p.handshake(keepalive, features);
  return p;
}
