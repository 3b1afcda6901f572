/**
 * A raw MetalBond peer for tests, built on the project's own codec: it sends exactly the frames it
 * is told to and records every frame it receives, so tests can check the wire behaviour of a
 * server or client byte by byte.
 */

import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

import { decodePayload } from '../../src/wire/decode.js';
import { encodeHello, encodeKeepalive, encodeMessage } from '../../src/wire/encode.js';
import { FrameDecoder } from '../../src/wire/frame-decoder.js';
import {
  MessageType,
  type HelloMessage,
  type Message,
  type UpdateMessage,
} from '../../src/wire/messages.js';
import { validateUpdate, type RouteUpdate } from '../../src/model/validate.js';
import { formatRoute } from '../../src/model/route.js';

const DEFAULT_TIMEOUT = 5000;

export class RawPeer {
  readonly received: Message[] = [];
  /** Raw bytes received, in order. */
  readonly bytes: Buffer[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  updateCount = 0;
  /**
   * The routes this peer holds after applying the UPDATEs received in order (`VNI ROUTE` text),
   * and every inconsistency seen: a duplicate ADD or a REMOVE of something not held.
   */
  readonly view = new Set<string>();
  readonly viewErrors: string[] = [];
  /** Answer every KEEPALIVE received (as a server does). */
  answerKeepalives = false;
  error: Error | undefined;
  private readonly decoder = new FrameDecoder();
  private cursor = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Socket) {
    // Lenient on purpose: tests assert which extension messages arrive (and which never do).
    this.decoder.allowType(MessageType.SYNCED);
    this.decoder.allowType(MessageType.REFUSED);
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(chunk);
      try {
        this.decoder.feed(chunk, (type, buf, start, end) => {
          const m = decodePayload(type, buf, start, end);
          if (m.type === 'UPDATE') {
            this.updateCount++;
            this.applyToView(m);
          } else if (m.type === 'KEEPALIVE' && this.answerKeepalives) {
            this.send(encodeKeepalive());
          }
          this.received.push(m);
        });
      } catch (e) {
        this.error = e as Error;
        socket.destroy();
      }
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
  }

  static async connect(port: number, host = '::1'): Promise<RawPeer> {
    const socket = connect({ port, host, noDelay: true });
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  private applyToView(m: UpdateMessage): void {
    let u: RouteUpdate;
    try {
      u = validateUpdate(m);
    } catch {
      return; // invalid UPDATEs are the subject of their own tests
    }
    const k = `${String(u.vni)} ${formatRoute(u.route)}`;
    if (u.action === 'ADD') {
      if (this.view.has(k)) this.viewErrors.push(`duplicate ADD ${k}`);
      this.view.add(k);
    } else if (!this.view.delete(k)) {
      this.viewErrors.push(`REMOVE of ${k} not held`);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(m: Message | Buffer): void {
    this.socket.write(Buffer.isBuffer(m) ? m : encodeMessage(m));
  }

  /**
   * Client handshake as behaviour.md orders it; returns the server's HELLO. `features`: tsbond
   * feature bits to offer (HELLO field 1000); none: a plain MetalBond client.
   */
  async handshake(keepalive = 5, features?: number): Promise<HelloMessage> {
    this.send(encodeHello(keepalive, false, features));
    const hello = await this.next();
    if (hello.type !== 'HELLO') throw new Error(`expected HELLO, got ${hello.type}`);
    this.send(encodeKeepalive());
    const ka = await this.next();
    if (ka.type !== 'KEEPALIVE') throw new Error(`expected KEEPALIVE, got ${ka.type}`);
    return hello;
  }

  /** The next message not yet consumed by next()/waitFor(). */
  async next(timeoutMs = DEFAULT_TIMEOUT): Promise<Message> {
    await this.until(() => this.cursor < this.received.length, timeoutMs, 'a message');
    const m = this.received[this.cursor++];
    if (m === undefined) throw new Error('no message');
    return m;
  }

  /** Waits until `cond` holds (re-checked on every received chunk and on close). */
  async until(cond: () => boolean, timeoutMs = DEFAULT_TIMEOUT, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.isClosed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Round-trip barrier: sends a KEEPALIVE and waits for the server's reply. Everything the server
   * queued for this peer before handling it has then been received.
   */
  async barrier(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    const before = this.received.filter((m) => m.type === 'KEEPALIVE').length;
    this.send(encodeKeepalive());
    await this.until(
      () => this.received.filter((m) => m.type === 'KEEPALIVE').length > before,
      timeoutMs,
      'KEEPALIVE reply',
    );
  }

  /** Validated UPDATEs received so far. */
  updates(): RouteUpdate[] {
    return this.received.filter((m) => m.type === 'UPDATE').map((m) => validateUpdate(m));
  }

  /** UPDATEs as `ADD 100 10.0.1.0/24 via 2001:db8::1` lines, in arrival order. */
  updateLines(): string[] {
    return this.updates().map((u) => `${u.action} ${String(u.vni)} ${formatRoute(u.route)}`);
  }

  async waitForUpdates(n: number, timeoutMs = DEFAULT_TIMEOUT): Promise<RouteUpdate[]> {
    await this.until(() => this.updateCount >= n, timeoutMs, `${String(n)} updates`);
    return this.updates();
  }

  async waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    await this.until(() => this.isClosed, timeoutMs, 'close');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A raw server that records what a client sends and answers as scripted. */
export class RawServer {
  readonly peers: RawPeer[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (s) => {
      this.peers.push(new RawPeer(s));
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  static async start(): Promise<RawServer> {
    const server = createServer({ noDelay: true });
    server.listen(0, '::1');
    await once(server, 'listening');
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('no address');
    return new RawServer(server, a.port);
  }

  async nextPeer(index: number, timeoutMs = DEFAULT_TIMEOUT): Promise<RawPeer> {
    const deadline = Date.now() + timeoutMs;
    while (this.peers.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timeout waiting for a connection');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const p = this.peers[index];
    if (p === undefined) throw new Error('no peer');
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.close();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}
