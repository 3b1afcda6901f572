/**
 * One raw MetalBond client connection of the load generator. It performs the client handshake
 * strictly step by step (HELLO, wait HELLO, KEEPALIVE, wait KEEPALIVE: rustbond's server reads the
 * handshake with single reads, so nothing is pipelined), then only counts what it receives. It
 * answers nothing; it sends a KEEPALIVE every few seconds so the session stays up, and uses a
 * KEEPALIVE round trip as a barrier.
 */

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';

import { encodeKeepalive, encodeSubscribe } from '../../src/wire/encode.js';
import { FrameCounter } from './frame-counter.js';
import { helloFrame } from './hello.js';
import { RouteView } from './route-sum.js';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const KEEPALIVE = encodeKeepalive();

interface Waiter {
  readonly cond: () => boolean;
  readonly resolve: (at: number) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface ConnOptions {
  readonly host: string;
  readonly port: number;
  /** Keepalive offered in our HELLO, seconds (never below 1: a Go server crashes on 0). */
  readonly keepalive: number;
  /** Send a KEEPALIVE this often once established, ms. */
  readonly keepaliveEveryMs: number;
  readonly timeoutMs: number;
  /** HELLO field 1000 `features` (lib/hello.ts); undefined: no field (a Go-compatible peer). */
  readonly features?: number | undefined;
  /** Keep checksums of the received routes. */
  readonly sums?: boolean | undefined;
  /** Keep the exact view of the received routes (a Map: for a few receivers only). */
  readonly view?: boolean | undefined;
  /** Connect over TLS (mutual when a certificate is given); the MetalBond session runs inside. */
  readonly tls?: TlsClientOptions | undefined;
}

/** PEM contents. The server is verified against `ca` (its certificate must name `host`). */
export interface TlsClientOptions {
  readonly ca: string | Buffer;
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
}

export class RawConn {
  readonly counter: FrameCounter;
  readonly view: RouteView | undefined;
  /** Why the connection was lost (closed by the server or an error), if it was. */
  lost: string | undefined;
  /** Time of the last UPDATE received. */
  lastUpdateAt = 0;
  /** KEEPALIVEs sent, handshake included (each is answered by the server). */
  pingsSent = 0;
  readonly openedAt = nowMs();
  /** When the last SUBSCRIBE was written. */
  subscribedAt = 0;
  private closing = false;
  private waiters: Waiter[] = [];
  private pinger: NodeJS.Timeout | undefined;
  private subscribed = new Set<number>();
  private onLost: ((c: RawConn) => void) | undefined;

  private constructor(
    readonly id: string,
    readonly socket: Socket,
    readonly features: number | undefined,
    o: ConnOptions,
  ) {
    this.view = o.view === true ? new RouteView() : undefined;
    this.counter = new FrameCounter({ sums: o.sums === true, view: this.view });
    socket.on('data', (chunk: Buffer) => {
      const c = this.counter;
      const before = c.adds + c.removes;
      c.feed(chunk);
      if (c.adds + c.removes !== before) this.lastUpdateAt = nowMs();
      if (c.error !== undefined) this.lose(`protocol: ${c.error}`);
      else if (this.waiters.length > 0) this.wake();
    });
    socket.on('error', (e) => {
      this.lose(`error: ${e.message}`);
    });
    socket.on('close', () => {
      this.lose('closed by the server');
    });
  }

  static async open(id: string, o: ConnOptions): Promise<RawConn> {
    const socket =
      o.tls === undefined
        ? connect({ host: o.host, port: o.port, noDelay: true })
        : tlsConnect({
            host: o.host,
            port: o.port,
            ca: o.tls.ca,
            cert: o.tls.cert,
            key: o.tls.key,
          });
    if (o.tls !== undefined) socket.setNoDelay(true);
    const conn = new RawConn(id, socket, o.features, o);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error(`${id}: connect timeout`));
      }, o.timeoutMs);
      socket.once(o.tls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(t);
        resolve();
      });
      socket.once('error', (e: Error) => {
        clearTimeout(t);
        reject(e);
      });
    });
    // Handshake, one step at a time.
    socket.write(helloFrame(Math.max(1, o.keepalive), o.features));
    await conn.waitFor(() => conn.counter.hellos >= 1, o.timeoutMs, 'server HELLO');
    conn.pingsSent++;
    socket.write(KEEPALIVE);
    await conn.waitFor(() => conn.counter.keepalives >= 1, o.timeoutMs, 'KEEPALIVE reply');
    conn.pinger = setInterval(() => {
      conn.ping();
    }, o.keepaliveEveryMs);
    return conn;
  }

  /** Called once when the connection is lost (not when we close it). */
  setLostHandler(f: (c: RawConn) => void): void {
    this.onLost = f;
  }

  get alive(): boolean {
    return this.lost === undefined && !this.closing;
  }

  /** Sends SUBSCRIBE once per VNI (a duplicate deadlocks a Go server). */
  subscribe(vni: number): void {
    if (this.subscribed.has(vni)) return;
    this.subscribed.add(vni);
    this.subscribedAt = nowMs();
    this.socket.write(encodeSubscribe(vni));
  }

  ping(): void {
    if (!this.alive) return;
    this.pingsSent++;
    this.socket.write(KEEPALIVE);
  }

  /** KEEPALIVE round trip: resolves once the server answered every KEEPALIVE sent so far. */
  async roundTrip(timeoutMs: number): Promise<number> {
    this.ping();
    const want = this.pingsSent;
    return this.waitFor(() => this.counter.keepalives >= want, timeoutMs, 'KEEPALIVE reply');
  }

  /** "N ADDs, M REMOVEs" received so far. */
  get countsText(): string {
    return `${String(this.counter.adds)} ADDs, ${String(this.counter.removes)} REMOVEs received`;
  }

  /**
   * Resolves with the time at which `cond` first held, checked after every received chunk; rejects
   * on timeout, when no UPDATE arrived for `stallMs` (if given), or when the connection is lost.
   */
  async waitFor(
    cond: () => boolean,
    timeoutMs: number,
    what: string,
    stallMs?: number,
  ): Promise<number> {
    if (cond()) return nowMs();
    if (!this.alive) {
      throw new Error(
        `${this.id}: ${this.lost ?? 'closed'} (waiting for ${what}; ${this.countsText})`,
      );
    }
    const started = nowMs();
    return new Promise<number>((resolve, reject) => {
      let stall: NodeJS.Timeout | undefined;
      const fail = (why: string): void => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        clearTimeout(timer);
        if (stall !== undefined) clearInterval(stall);
        reject(new Error(`${this.id}: ${why} waiting for ${what} (${this.countsText})`));
      };
      const timer = setTimeout(() => {
        fail(`timeout after ${String(timeoutMs)} ms`);
      }, timeoutMs);
      if (stallMs !== undefined) {
        stall = setInterval(
          () => {
            const last = Math.max(this.lastUpdateAt, started);
            if (nowMs() - last > stallMs) {
              fail(`nothing received for ${String(stallMs)} ms`);
            }
          },
          Math.min(1000, stallMs),
        );
      }
      this.waiters.push({
        cond,
        resolve: (at) => {
          if (stall !== undefined) clearInterval(stall);
          resolve(at);
        },
        reject: (e) => {
          if (stall !== undefined) clearInterval(stall);
          reject(e);
        },
        timer,
      });
    });
  }

  /** Closes the connection from our side; returns the time the close was issued. */
  close(): number {
    this.closing = true;
    this.stopPinger();
    const at = nowMs();
    this.socket.destroy();
    this.rejectAll(new Error(`${this.id}: closed`));
    return at;
  }

  private wake(): void {
    const at = nowMs();
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.cond()) {
        clearTimeout(w.timer);
        w.resolve(at);
      } else keep.push(w);
    }
    this.waiters = keep;
  }

  private lose(reason: string): void {
    if (this.closing || this.lost !== undefined) return;
    this.lost = reason;
    this.stopPinger();
    this.socket.destroy();
    this.rejectAll(
      new Error(
        `${this.id}: ${reason} after ${((nowMs() - this.openedAt) / 1000).toFixed(1)} s (${this.countsText})`,
      ),
    );
    this.onLost?.(this);
  }

  private rejectAll(e: Error): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) {
      clearTimeout(x.timer);
      x.reject(e);
    }
  }

  private stopPinger(): void {
    if (this.pinger !== undefined) clearInterval(this.pinger);
    this.pinger = undefined;
  }
}
