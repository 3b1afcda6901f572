/**
 * The clients a soak worker runs. Both keep an order-independent digest of their view (count and
 * sum of route-key hashes, updated on every change) so that the driver can check thousands of
 * views against the expected sets without shipping them.
 *
 * - MbSoakClient: a real MetalBondClient (reconnect, re-sync, loop prevention, HA dedup); costs
 *   about 0.9 KB per received route.
 * - LightSoakClient: a minimal well-behaved protocol client built on the project's codec (the
 *   handshake in order, SUBSCRIBE then ADDs, a KEEPALIVE every K, liveness timeout 2.5 K,
 *   reconnect with jittered back-off), whose view is only its digest: for 10,000 sessions with
 *   ~1,000 routes each, where MetalBondClients would need ~9 GB in the load generator.
 */

import { connect, type Socket } from 'node:net';

import { Backoff } from '../src/client/backoff.js';
import { MetalBondClient } from '../src/client/client.js';
import { routeKey, encodeRouteUpdate } from '../src/model/wire-route.js';
import { SessionState } from '../src/session/state.js';
import { encodeHello, encodeKeepalive, encodeSubscribe } from '../src/wire/encode.js';
import { FrameDecoder } from '../src/wire/frame-decoder.js';
import { MessageType } from '../src/wire/messages.js';
import { keyHash, keyHashBytes, peerRoute } from '../test/helpers/peer-group.js';

export interface SoakClient {
  readonly index: number;
  readonly vni: number;
  readonly established: boolean;
  /** View digest: number of routes and the 32-bit sum of their key hashes. */
  readonly count: number;
  readonly hash: number;
  /** Established sessions lost. */
  readonly drops: number;
  readonly lastChangeAt: number;
  announce(n: number): Promise<void>;
  withdraw(n: number): Promise<void>;
  /** The view as route keys (hex), when the client keeps them. */
  keys(): string[];
  stop(): Promise<void>;
}

export class MbSoakClient implements SoakClient {
  count = 0;
  hash = 0;
  drops = 0;
  lastChangeAt = 0;
  private readonly client: MetalBondClient;

  constructor(
    readonly index: number,
    readonly vni: number,
    server: string,
    keepalive: number,
    routes: number,
  ) {
    const change = (sign: 1 | -1, key: string): void => {
      this.count += sign;
      this.hash = (this.hash + sign * keyHash(key)) >>> 0;
      this.lastChangeAt = Date.now();
    };
    this.client = MetalBondClient.connect(
      [server],
      {
        addRoute: (v, r) => {
          change(1, routeKey(v, r));
        },
        removeRoute: (v, r) => {
          change(-1, routeKey(v, r));
        },
      },
      {
        keepalive,
        subscribe: [vni],
        announce: Array.from({ length: routes }, (_, n) => ({ vni, route: peerRoute(index, n) })),
      },
    );
    this.client.on('server', (e) => {
      if (e.state === SessionState.RETRY && e.previous === SessionState.ESTABLISHED) this.drops++;
    });
  }

  get established(): boolean {
    return this.client.isEstablished;
  }

  async announce(n: number): Promise<void> {
    const r = peerRoute(this.index, n);
    await this.client.announce(this.vni, r.destination, r.nextHop);
  }

  async withdraw(n: number): Promise<void> {
    const r = peerRoute(this.index, n);
    await this.client.withdraw(this.vni, r.destination, r.nextHop);
  }

  keys(): string[] {
    return this.client
      .receivedRoutes(this.vni)
      .map((x) => Buffer.from(routeKey(x.vni, x.route), 'latin1').toString('hex'));
  }

  async stop(): Promise<void> {
    await this.client.shutdown();
  }
}

type LightState = 'down' | 'connecting' | 'hello-sent' | 'keepalive-sent' | 'established';

export class LightSoakClient implements SoakClient {
  count = 0;
  hash = 0;
  drops = 0;
  lastChangeAt = 0;
  private state: LightState = 'down';
  private socket: Socket | undefined;
  private decoder = new FrameDecoder();
  private readonly backoff = new Backoff();
  private readonly announced = new Map<number, Buffer>();
  private lastRx = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    readonly vni: number,
    private readonly host: string,
    private readonly port: number,
    private readonly keepalive: number,
    routes: number,
  ) {
    for (let n = 0; n < routes; n++) this.announced.set(n, this.frame('ADD', n));
    this.connect();
  }

  get established(): boolean {
    return this.state === 'established';
  }

  private frame(action: 'ADD' | 'REMOVE', n: number): Buffer {
    return encodeRouteUpdate(action, this.vni, peerRoute(this.index, n));
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'connecting';
    this.decoder = new FrameDecoder();
    // The liveness deadline (2.5 K) also bounds the TCP connect and the handshake.
    this.lastRx = Date.now();
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = s;
    s.on('connect', () => {
      this.lastRx = Date.now();
      this.state = 'hello-sent';
      s.write(encodeHello(this.keepalive, false));
    });
    s.on('data', (d: Buffer) => {
      this.lastRx = Date.now();
      try {
        this.decoder.feed(d, this.onFrame);
      } catch {
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket !== s) return;
      this.closed();
    });
  }

  private closed(): void {
    if (this.state === 'established') this.drops++;
    this.state = 'down';
    this.socket = undefined;
    if (this.count !== 0) this.lastChangeAt = Date.now();
    this.count = 0;
    this.hash = 0;
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, this.backoff.next());
  }

  private readonly onFrame = (type: number, buf: Buffer, start: number, end: number): void => {
    const s = this.socket;
    if (s === undefined) return;
    if (this.state === 'hello-sent' && type === MessageType.HELLO) {
      this.state = 'keepalive-sent';
      s.write(encodeKeepalive());
    } else if (this.state === 'keepalive-sent' && type === MessageType.KEEPALIVE) {
      this.state = 'established';
      this.backoff.reset();
      // All subscriptions first, then all announcements; one write.
      s.write(Buffer.concat([encodeSubscribe(this.vni), ...this.announced.values()]));
    } else if (this.state === 'established' && type === MessageType.UPDATE) {
      const remove = buf[start] === 0x08 && buf[start + 1] === 0x01;
      const h = keyHashBytes(buf, remove ? start + 2 : start, end);
      const sign = remove ? -1 : 1;
      this.count += sign;
      this.hash = (this.hash + sign * h) >>> 0;
      this.lastChangeAt = Date.now();
    }
  };

  /** Called every keepalive interval by the worker: KEEPALIVE, and the liveness check. */
  tick(now: number): void {
    const s = this.socket;
    if (s === undefined) return;
    if (now - this.lastRx > this.keepalive * 2500) {
      s.destroy(); // nothing received for 2.5 K: half-open, reconnect
      return;
    }
    if (this.state === 'established') s.write(encodeKeepalive());
  }

  async announce(n: number): Promise<void> {
    const f = this.frame('ADD', n);
    this.announced.set(n, f);
    if (this.state === 'established') this.socket?.write(f);
    await Promise.resolve();
  }

  async withdraw(n: number): Promise<void> {
    this.announced.delete(n);
    if (this.state === 'established') this.socket?.write(this.frame('REMOVE', n));
    await Promise.resolve();
  }

  keys(): string[] {
    return [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    await Promise.resolve();
  }
}
