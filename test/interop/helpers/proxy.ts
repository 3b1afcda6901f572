/** A TCP proxy on [::1] that records the bytes of every connection in both directions. */

import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface Recorded {
  /** Client -> server bytes. */
  readonly up: Buffer[];
  /** Server -> client bytes. */
  readonly down: Buffer[];
}

export class RecordingProxy {
  readonly connections: Recorded[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(t: TestContext, upstreamPort: number): Promise<RecordingProxy> {
    const server = createServer({ noDelay: true });
    server.listen(0, '::1');
    await once(server, 'listening');
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('no address');
    const proxy = new RecordingProxy(server, a.port);
    server.on('connection', (down) => {
      const rec: Recorded = { up: [], down: [] };
      proxy.connections.push(rec);
      const up = connect({ host: '::1', port: upstreamPort, noDelay: true });
      for (const s of [down, up]) {
        proxy.sockets.add(s);
        s.on('error', () => {
          down.destroy();
          up.destroy();
        });
        s.on('close', () => {
          down.destroy();
          up.destroy();
        });
      }
      down.on('data', (b: Buffer) => {
        rec.up.push(Buffer.from(b));
        up.write(b);
      });
      up.on('data', (b: Buffer) => {
        rec.down.push(Buffer.from(b));
        down.write(b);
      });
    });
    t.after(() => proxy.close());
    return proxy;
  }

  get address(): string {
    return `[::1]:${String(this.port)}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
