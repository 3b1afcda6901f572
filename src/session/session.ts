/**
 * One MetalBond TCP connection, either role: handshake, keepalive, framing, write coalescing.
 * An explicit state machine whose only mutator is setState(), which emits 'state'. Everything
 * above it (server routing, client HA) talks to it through SessionHandler callbacks.
 */

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import { IoError, MetalBondError, ProtocolError, TimeoutError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodePayload, decodeSubscriptionVni, messageTypeName } from '../wire/decode.js';
import { encodeHello, encodeKeepalive } from '../wire/encode.js';
import { FrameDecoder } from '../wire/frame-decoder.js';
import { MessageType, type Message } from '../wire/messages.js';
import { KEEPALIVE_TIMEOUT_FACTOR, checkHello, negotiateKeepalive } from './handshake.js';
import { KeepaliveManager } from './keepalive.js';
import { SessionState, type SessionRole } from './state.js';
import { scheduleFlush } from './flush.js';
import { Pacer, framePrefix, frameSizeAt, type PacingOptions } from './pacing.js';

/** What the owner of a session is told. Handlers must not throw; anything thrown closes the session. */
export interface SessionHandler {
  onEstablished(session: Session): void;
  onSubscribe?(session: Session, vni: number): void;
  onUnsubscribe?(session: Session, vni: number): void;
  /** A raw UPDATE payload `buf[start, end)`, valid only during the call. */
  onUpdate(session: Session, buf: Buffer, start: number, end: number): void;
  /** Every frame of a received chunk was handled. */
  onChunkEnd?(session: Session): void;
  onClose(session: Session, error: MetalBondError | undefined): void;
}

export interface SessionOptions {
  readonly role: SessionRole;
  /** Configured keepalive interval in seconds (>= 1). */
  readonly keepaliveSeconds: number;
  /** Handshake deadline in ms; 2.5 x the configured keepalive by default. */
  readonly helloTimeoutMs?: number | undefined;
  readonly logger: Logger;
  /** Millisecond factor of the keepalive second (tests only); 1000 by default. */
  readonly secondMs?: number | undefined;
  /** Pace writes (for peers that cannot reassemble the stream); unpaced when undefined. */
  readonly pacing?: PacingOptions | undefined;
  /**
   * Client role: at most this many bytes in flight. After that many bytes of frames the client
   * sends a KEEPALIVE and waits for the server's reply, which every server sends only once its
   * reader got past everything before it; so a server that reads slowly (Go MetalBond resets a
   * session whose unread data passes 64 KiB) is never overrun. Undefined: no window.
   */
  readonly ackWindowBytes?: number | undefined;
}

export interface SessionStats {
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  /** Socket writes (each carries every frame queued since the previous one). */
  writes: number;
}

export interface SessionEvents {
  state: [state: SessionState, previous: SessionState];
  /** The socket's write buffer emptied. */
  drain: [];
  /** Queued frames were handed to the socket. */
  flushed: [];
}

export class Session extends EventEmitter<SessionEvents> {
  readonly role: SessionRole;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly stats: SessionStats = {
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    writes: 0,
  };
  /** Negotiated keepalive in seconds, once the HELLOs are exchanged. */
  keepaliveSeconds: number | undefined;
  /** The peer's HELLO, once received. */
  peerHello: { keepaliveInterval: number; isServer: boolean } | undefined;
  establishedAt: Date | undefined;
  closeError: MetalBondError | undefined;
  readonly log: Logger;

  private _state: SessionState = SessionState.CONNECTING;
  private readonly decoder = new FrameDecoder();
  private readonly keepalive: KeepaliveManager;
  private readonly secondMs: number;
  private segBufs: Buffer[] = [];
  private segStarts: number[] = [];
  private segEnds: number[] = [];
  private enqueuedBytes = 0;
  private pendingBytes = 0;
  private pendingFrames = 0;
  private readingPaused = false;
  private readonly pacer: Pacer | undefined;
  private pacingTimer: NodeJS.Timeout | undefined;
  /** Ack window (client role): KEEPALIVEs sent and answered since ESTABLISHED. */
  private keepalivesSent = 0;
  private keepalivesAnswered = 0;
  /** Waiting until keepalivesAnswered reaches this (0: not waiting). */
  private windowProbe = 0;
  private windowUsed = 0;

  constructor(
    private readonly socket: Socket,
    private readonly handler: SessionHandler,
    private readonly options: SessionOptions,
  ) {
    super();
    this.role = options.role;
    this.secondMs = options.secondMs ?? 1000;
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    this.localAddress = formatAddress(socket.localAddress, socket.localPort);
    this.log = options.logger.child({ peer: this.remoteAddress });
    this.pacer = options.pacing === undefined ? undefined : new Pacer(options.pacing, Date.now());
    this.keepalive = new KeepaliveManager({
      sendKeepalive: () => {
        // Straight to the socket (between whole frames): never held back by pacing or the window.
        this.keepalivesSent++;
        this.writeNow(encodeKeepalive(), 1);
      },
      expired: (kind, afterMs) => {
        this.close(
          new TimeoutError(
            kind === 'hello'
              ? `handshake not completed within ${String(afterMs)} ms`
              : `nothing received for ${String(afterMs)} ms (keepalive timeout)`,
          ),
        );
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    socket.on('error', (err) => {
      this.close(new IoError(err.message, { cause: err }));
    });
    socket.on('close', () => {
      this.close(new IoError('connection closed'));
    });
    socket.on('end', () => {
      this.close(new IoError('connection closed by peer'));
    });
    socket.on('drain', () => {
      this.emit('drain');
    });
  }

  get state(): SessionState {
    return this._state;
  }

  get established(): boolean {
    return this._state === SessionState.ESTABLISHED;
  }

  /** Bytes accepted for sending but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.pendingBytes + this.socket.writableLength;
  }

  /** Starts the handshake; the client sends its HELLO. */
  start(): void {
    const helloMs =
      this.options.helloTimeoutMs ??
      this.options.keepaliveSeconds * KEEPALIVE_TIMEOUT_FACTOR * this.secondMs;
    this.keepalive.startHello(helloMs);
    if (this.role === 'client') {
      this.send(encodeHello(this.options.keepaliveSeconds, false));
      this.setState(SessionState.HELLO_SENT);
    }
  }

  /**
   * Queues complete frames `buf[start, end)` (`frames` of them) for a coalesced write. Consecutive
   * ranges of one buffer are merged, so frames fanned out from a shared buffer cost one entry.
   * The bytes must not change until flushed.
   */
  send(buf: Buffer, frames = 1, start = 0, end = buf.length): void {
    if (this._state === SessionState.CLOSED) return;
    const n = this.segBufs.length;
    if (n > 0 && this.segBufs[n - 1] === buf && this.segEnds[n - 1] === start) {
      this.segEnds[n - 1] = end;
    } else {
      this.segBufs.push(buf);
      this.segStarts.push(start);
      this.segEnds.push(end);
      if (n === 0 && this.pacingTimer === undefined) scheduleFlush(this);
    }
    this.pendingBytes += end - start;
    this.pendingFrames += frames;
    this.enqueuedBytes += end - start;
  }

  /** Writes everything queued in one socket write. Called by the flush scheduler. */
  flush(): void {
    const n = this.segBufs.length;
    if (n === 0 || this._state === SessionState.CLOSED) return;
    const window = this.options.ackWindowBytes;
    if (window !== undefined && this._state === SessionState.ESTABLISHED) {
      this.flushWindowed(window);
      return;
    }
    if (this.pacer !== undefined) {
      this.flushPaced(this.pacer);
      return;
    }
    const bufs = this.segBufs;
    const starts = this.segStarts;
    const ends = this.segEnds;
    this.stats.bytesOut += this.pendingBytes;
    this.stats.messagesOut += this.pendingFrames;
    this.segBufs = [];
    this.segStarts = [];
    this.segEnds = [];
    this.pendingBytes = 0;
    this.pendingFrames = 0;
    this.stats.writes++;
    // One gathered write (writev) of the queued ranges: no copy into a new buffer.
    const socket = this.socket;
    if (n > 1) socket.cork();
    for (let i = 0; i < n; i++) {
      socket.write((bufs[i] as Buffer).subarray(starts[i], ends[i]));
    }
    if (n > 1) socket.uncork();
    this.emit('flushed');
  }

  private writeNow(data: Buffer, frames: number): void {
    this.stats.bytesOut += data.length;
    this.stats.messagesOut += frames;
    this.stats.writes++;
    this.socket.write(data);
    this.emit('flushed');
  }

  /** Takes whole frames from the queue, at most `budget` bytes (at least one frame if `force`). */
  private takeFrames(budget: number): { data: Buffer | undefined; bytes: number; frames: number } {
    const parts: Buffer[] = [];
    let bytes = 0;
    let frames = 0;
    let i = 0;
    for (; i < this.segBufs.length; i++) {
      const buf = this.segBufs[i] as Buffer;
      const start = this.segStarts[i] ?? 0;
      const end = this.segEnds[i] ?? 0;
      const p = framePrefix(buf, start, end, budget - bytes);
      if (p.bytes > 0) parts.push(buf.subarray(start, start + p.bytes));
      bytes += p.bytes;
      frames += p.frames;
      if (start + p.bytes < end) {
        this.segStarts[i] = start + p.bytes;
        break;
      }
    }
    this.segBufs.splice(0, i);
    this.segStarts.splice(0, i);
    this.segEnds.splice(0, i);
    this.pendingBytes -= bytes;
    this.pendingFrames = Math.max(0, this.pendingFrames - frames);
    const data =
      bytes === 0 ? undefined : parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
    return { data, bytes, frames };
  }

  /** Ack window: sends up to the window, then a KEEPALIVE probe; the rest after its reply. */
  private flushWindowed(window: number): void {
    if (this.windowProbe > 0) return; // resumed by the KEEPALIVE reply
    const pacer = this.pacer;
    const room = window - this.windowUsed;
    const tokens = pacer === undefined ? room : pacer.available(Date.now());
    const t = this.takeFrames(Math.min(room, tokens));
    pacer?.consume(t.bytes);
    this.windowUsed += t.bytes;
    let data = t.data;
    let frames = t.frames;
    if (this.segBufs.length > 0 && window - this.windowUsed < this.nextFrameSize()) {
      // Window full: probe, and wait for the reply.
      const probe = encodeKeepalive();
      data = data === undefined ? probe : Buffer.concat([data, probe]);
      frames++;
      this.keepalivesSent++;
      this.windowProbe = this.keepalivesSent;
      this.windowUsed = 0;
    } else if (pacer !== undefined && this.segBufs.length > 0) {
      this.schedulePaced(pacer);
    }
    if (data !== undefined) this.writeNow(data, frames);
  }

  private nextFrameSize(): number {
    const next = this.segBufs[0];
    if (next === undefined) return 0;
    return frameSizeAt(next, this.segStarts[0] ?? 0);
  }

  private schedulePaced(pacer: Pacer): void {
    if (this.pacingTimer !== undefined) return;
    const wait = pacer.delayFor(Math.max(this.nextFrameSize(), pacer.options.burstBytes / 2));
    this.pacingTimer = setTimeout(
      () => {
        this.pacingTimer = undefined;
        this.flush();
      },
      Math.max(1, wait),
    );
  }

  /** Writes as many whole frames as the pacer allows now; the rest when tokens are back. */
  private flushPaced(pacer: Pacer): void {
    const t = this.takeFrames(pacer.available(Date.now()));
    if (t.data !== undefined) {
      pacer.consume(t.bytes);
      this.writeNow(t.data, t.frames);
    }
    if (this.segBufs.length > 0) this.schedulePaced(pacer);
  }

  /** Total bytes ever queued on this session (to locate a given byte in the stream). */
  get totalEnqueuedBytes(): number {
    return this.enqueuedBytes;
  }

  /** Total bytes handed to the kernel so far. */
  get totalWrittenBytes(): number {
    return this.stats.bytesOut - this.socket.writableLength;
  }

  /** Flow control: stop or resume reading from this peer. */
  setReadingPaused(paused: boolean): void {
    if (paused === this.readingPaused || this._state === SessionState.CLOSED) return;
    this.readingPaused = paused;
    if (paused) this.socket.pause();
    else this.socket.resume();
    this.keepalive.setPaused(paused);
  }

  get isReadingPaused(): boolean {
    return this.readingPaused;
  }

  /** Closes the connection; `error` says why (undefined: a deliberate local close). Idempotent. */
  close(error?: MetalBondError): void {
    if (this._state === SessionState.CLOSED) return;
    this.closeError = error;
    this.keepalive.stop();
    if (this.pacingTimer !== undefined) clearTimeout(this.pacingTimer);
    this.pacingTimer = undefined;
    this.segBufs = [];
    this.segStarts = [];
    this.segEnds = [];
    this.socket.destroy();
    this.setState(SessionState.CLOSED);
    this.handler.onClose(this, error);
  }

  private setState(next: SessionState): void {
    const prev = this._state;
    if (prev === next) return;
    this._state = next;
    this.log.debug({ state: next, previous: prev }, 'session state');
    this.emit('state', next, prev);
  }

  private onData(chunk: Buffer): void {
    if (this._state === SessionState.CLOSED) return;
    this.stats.bytesIn += chunk.length;
    this.keepalive.touch();
    try {
      this.decoder.feed(chunk, this.onFrame);
      this.handler.onChunkEnd?.(this);
    } catch (e) {
      this.close(
        e instanceof MetalBondError
          ? e
          : new ProtocolError(`handler failed: ${String(e)}`, { cause: e }),
      );
    }
  }

  private readonly onFrame = (type: number, buf: Buffer, start: number, end: number): void => {
    if (this._state === SessionState.CLOSED) return;
    this.stats.messagesIn++;
    if (this._state === SessionState.ESTABLISHED) {
      switch (type) {
        case MessageType.UPDATE:
          this.handler.onUpdate(this, buf, start, end);
          return;
        case MessageType.KEEPALIVE:
          if (this.role === 'server') this.send(encodeKeepalive());
          else this.keepaliveAnswered();
          return;
        case MessageType.SUBSCRIBE:
        case MessageType.UNSUBSCRIBE: {
          const vni = decodeSubscriptionVni(buf, start, end);
          const h = this.handler;
          if (type === MessageType.SUBSCRIBE && h.onSubscribe) h.onSubscribe(this, vni);
          else if (type === MessageType.UNSUBSCRIBE && h.onUnsubscribe) h.onUnsubscribe(this, vni);
          else
            this.log.warn({ vni, message: messageTypeName(type) }, 'ignored message from server');
          return;
        }
        case MessageType.HELLO:
          throw new ProtocolError('second HELLO on an established session');
      }
      return;
    }
    this.handshake(decodePayload(type, buf, start, end));
  };

  private handshake(m: Message): void {
    const state = this._state;
    if (this.role === 'server') {
      if (state === SessionState.CONNECTING && m.type === 'HELLO') {
        checkHello(m);
        this.peerHello = m;
        this.keepaliveSeconds = negotiateKeepalive(
          this.options.keepaliveSeconds,
          m.keepaliveInterval,
        );
        this.send(encodeHello(this.keepaliveSeconds, true));
        this.setState(SessionState.HELLO_RECEIVED);
        return;
      }
      if (state === SessionState.HELLO_RECEIVED && m.type === 'KEEPALIVE') {
        this.send(encodeKeepalive());
        this.becomeEstablished();
        return;
      }
    } else {
      if (state === SessionState.HELLO_SENT && m.type === 'HELLO') {
        checkHello(m);
        this.peerHello = m;
        this.keepaliveSeconds = negotiateKeepalive(
          this.options.keepaliveSeconds,
          m.keepaliveInterval,
        );
        this.send(encodeKeepalive());
        this.setState(SessionState.HELLO_RECEIVED);
        return;
      }
      if (state === SessionState.HELLO_RECEIVED && m.type === 'KEEPALIVE') {
        this.becomeEstablished();
        return;
      }
    }
    throw new ProtocolError(`unexpected ${m.type} in state ${state}`);
  }

  private keepaliveAnswered(): void {
    this.keepalivesAnswered++;
    if (this.windowProbe > 0 && this.keepalivesAnswered >= this.windowProbe) {
      this.windowProbe = 0;
      if (this.segBufs.length > 0) this.flush();
    }
  }

  private becomeEstablished(): void {
    const k = this.keepaliveSeconds ?? this.options.keepaliveSeconds;
    const timeoutMs = k * KEEPALIVE_TIMEOUT_FACTOR * this.secondMs;
    this.keepalive.startEstablished(
      timeoutMs,
      this.role === 'client' ? k * this.secondMs : undefined,
    );
    this.establishedAt = new Date();
    this.setState(SessionState.ESTABLISHED);
    this.handler.onEstablished(this);
  }
}

export function formatAddress(host: string | undefined, port: number | undefined): string {
  if (host === undefined) return 'unknown';
  const h = host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
  return h.includes(':') ? `[${h}]:${String(port)}` : `${h}:${String(port)}`;
}
