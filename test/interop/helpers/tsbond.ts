/** tsbond itself in the interop tests: in-process servers and clients, cleaned up after the test. */

import type { TestContext } from 'node:test';

import { MetalBondClient } from '../../../src/client/client.js';
import type { ClientOptions } from '../../../src/client/types.js';
import type { ServerConfig } from '../../../src/server/config.js';
import { MetalBondServer } from '../../../src/server/server.js';
import { Recorder } from '../../helpers/recorder.js';
import type { VniRoute } from './routes.js';

export async function startTsServer(
  t: TestContext,
  config: ServerConfig = {},
  listen = '[::1]:0',
): Promise<TsServer> {
  const server = await MetalBondServer.start(listen, config);
  const s = new TsServer(server);
  t.after(() => s.stop());
  return s;
}

export class TsServer {
  /** Every peer event, for "nobody was disconnected" checks. */
  readonly closed: { peer: string; reason: string }[] = [];

  constructor(readonly server: MetalBondServer) {
    server.on('peer', (e) => {
      if (e.type === 'closed') this.closed.push({ peer: e.peer.address, reason: e.reason });
    });
  }

  get address(): string {
    return `[::1]:${String(this.server.address.port)}`;
  }

  get port(): number {
    return this.server.address.port;
  }

  stop(): Promise<void> {
    return this.server.shutdown();
  }

  /** Waits until `n` peers are established. */
  async waitPeers(n: number, timeoutMs: number): Promise<void> {
    const count = (): number => this.server.peers().filter((p) => p.state === 'ESTABLISHED').length;
    const deadline = Date.now() + timeoutMs;
    while (count() < n) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timeout waiting for ${String(n)} established peers: ${JSON.stringify(this.server.peers())}`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.server.off('peer', done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.server.on('peer', done);
      });
    }
  }
}

export class TsClient {
  constructor(
    readonly client: MetalBondClient,
    readonly rec: Recorder,
  ) {}

  static connect(
    t: TestContext,
    servers: readonly string[],
    options: ClientOptions = {},
  ): TsClient {
    const rec = new Recorder();
    const client = MetalBondClient.connect(servers, rec, {
      backoffMinMs: 200,
      backoffMaxMs: 1000,
      ...options,
    });
    const c = new TsClient(client, rec);
    t.after(() => client.shutdown());
    return c;
  }

  /** Routes held by the handler now (adds minus removes), sorted canonical lines. */
  held(): string[] {
    return this.rec.held();
  }

  async waitHeld(expected: readonly string[], timeoutMs: number, what = 'routes'): Promise<void> {
    const want = JSON.stringify([...expected].sort());
    try {
      await this.rec.until(() => JSON.stringify(this.held()) === want, timeoutMs, what);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}\nwanted ${want}\nheld   ${JSON.stringify(this.held())}`,
      );
    }
  }

  announce(r: VniRoute): Promise<void> {
    return this.client.announce(r.vni, r.route.destination, r.route.nextHop);
  }

  withdraw(r: VniRoute): Promise<void> {
    return this.client.withdraw(r.vni, r.route.destination, r.route.nextHop);
  }

  /** Waits until every server (or server `index`) is established, bounded. */
  async waitEstablished(timeoutMs: number, index?: number): Promise<void> {
    if (index === undefined) {
      await this.client.waitAllEstablished(timeoutMs);
      return;
    }
    const deadline = Date.now() + timeoutMs;
    while (this.client.serverStates()[index]?.state !== 'ESTABLISHED') {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timeout waiting for server ${String(index)} to be established: ${JSON.stringify(this.client.serverStates())}`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.client.off('server', done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.client.on('server', done);
      });
    }
  }
}
