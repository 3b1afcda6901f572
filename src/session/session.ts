/**
 * One MetalBond TCP connection, either role: handshake, feature negotiation, keepalive, framing,
 * and the send path. An explicit state machine whose only mutator is setState(), which emits
 * 'state'. Everything above it (server routing, client HA) talks to it through SessionHandler
 * callbacks.
 *
 * Send path: frames are queued (SendQueue) and handed to the socket once per event-loop turn, at
 * most about SOCKET_BUDGET bytes beyond what the socket has drained; the rest waits in the queue,
 * and when the queue is empty the owner may produce more (SessionHandler.onWritable). Towards a
 * peer that does not reassemble the TCP stream the writes are paced (and, from a client, held to an
 * ack window). A KEEPALIVE reply is written straight to the socket, ahead of everything queued.
 */

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import { IoError, MetalBondError, ProtocolError, TimeoutError, InternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodePayload, decodeSubscriptionVni, decodeRefused } from '../wire/decode.js';
import { encodeHello, encodeKeepalive } from '../wire/encode.js';
import { FrameDecoder } from '../wire/frame-decoder.js';
import {
  Feature,
  MESSAGE_TYPE_NAMES,
  MessageType,
  type HelloMessage,
  type Message,
  type RefusedMessage,
} from '../wire/messages.js';
import { KEEPALIVE_TIMEOUT_FACTOR, checkHello, negotiateKeepalive } from './handshake.js';
import { KeepaliveManager } from './keepalive.js';
import { SessionState, type SessionRole } from './state.js';
import { Pacer, type PacingOptions } from './pacing.js';
import { Sender } from './sender.js';

export { SOCKET_BUDGET } from './sender.js';

/** The socket members a session uses (a net.Socket or tls.TLSSocket; a fake in fuzz tests). */
export type SessionSocket = Pick<
  Socket,
  | 'remoteAddress'
  | 'remotePort'
  | 'localAddress'
  | 'localPort'
  | 'writableLength'
  | 'write'
  | 'cork'
  | 'uncork'
  | 'pause'
  | 'resume'
  | 'setNoDelay'
  | 'destroy'
  | 'on'
>;

/**
 * What the owner of a session is told. Exceptions thrown by a handler close the session: a
 * MetalBondError as itself, anything else as an InternalError (counted apart from the peer's
 * protocol errors).
 */
export interface SessionHandler {
  onEstablished(session: Session): void;
  onSubscribe?(session: Session, vni: number): void;
  onUnsubscribe?(session: Session, vni: number): void;
  /** A raw UPDATE payload `buf[start, end)`, valid only during the call. */
  onUpdate(session: Session, buf: Buffer, start: number, end: number): void;
  /** SYNCED (client role, SYNC_MARKER negotiated). */
  onSynced?(session: Session, vni: number): void;
  /** REFUSED (client role, REFUSALS negotiated). */
  onRefused?(session: Session, m: RefusedMessage): void;
  /** Client role: the round trip of one of our KEEPALIVEs, in ms. */
  onKeepaliveRtt?(session: Session, ms: number): void;
  /** Every frame of a received chunk was handled (called even when handling failed). */
  onChunkEnd?(session: Session): void;
  /**
   * The queue is empty and the socket can take about `room` more bytes: queue more frames with
   * send(). Returns whether more is waiting after what was queued (the session then asks again
   * when there is room).
   */
  onWritable?(session: Session, room: number): boolean;
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
  /**
   * tsbond feature bits this side offers (HELLO field 1000); undefined: extensions off, the session
   * behaves as a plain MetalBond peer.
   */
  readonly features?: number | undefined;
  /** Pace writes to a peer that does not reassemble the stream; undefined: never pace. */
  readonly pacing?: PacingOptions | undefined;
  /**
   * Client role, towards a server that does not reassemble the stream: at most this many bytes in
   * flight. After that many bytes of frames the client sends a KEEPALIVE and waits for the
   * server's reply, which every server sends only once its reader got past everything before it;
   * so a server that reads slowly (Go MetalBond resets a session whose unread data passes 64 KiB)
   * is never overrun. Undefined: no window.
   */
  readonly ackWindowBytes?: number | undefined;
}

export interface SessionStats {
  bytesIn: number;
  /** Bytes handed to the socket. */
  bytesOut: number;
  messagesIn: number;
  /** Messages queued for sending. */
  messagesOut: number;
  /** Socket writes (each carries every frame queued since the previous one). */
  writes: number;
  /** Messages received / queued by type code (index = type; extension types 100, 101 too). */
  readonly inByType: number[];
  readonly outByType: number[];
}

/** What both sides of a session agreed on. */
export interface NegotiatedFeatures {
  /** The peer's feature bits (undefined: its HELLO had no field 1000, a plain MetalBond peer). */
  readonly peer: number | undefined;
  /** Writes to the peer are unpaced (it reassembles the stream). */
  readonly reassembly: boolean;
  readonly syncMarker: boolean;
  readonly refusals: boolean;
}

export interface SessionEvents {
  state: [state: SessionState, previous: SessionState];
  /** Queued frames were handed to the socket (or the socket drained). */
  flushed: [];
}

const NO_FEATURES: NegotiatedFeatures = {
  peer: undefined,
  reassembly: false,
  syncMarker: false,
  refusals: false,
};

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
    inByType: [],
    outByType: [],
  };
  /** Negotiated keepalive in seconds, once the HELLOs are exchanged. */
  keepaliveSeconds: number | undefined;
  /** Negotiated features, once the HELLOs are exchanged. */
  features: NegotiatedFeatures = NO_FEATURES;
  establishedAt: Date | undefined;
  readonly log: Logger;

  private _state: SessionState = SessionState.CONNECTING;
  private readonly decoder = new FrameDecoder();
  private readonly keepalive: KeepaliveManager;
  private readonly secondMs: number;
  private readonly sender: Sender;
  private readingPaused = false;

  constructor(
    private readonly socket: SessionSocket,
    private readonly handler: SessionHandler,
    private readonly options: SessionOptions,
  ) {
    super();
    this.role = options.role;
    this.secondMs = options.secondMs ?? 1000;
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    this.localAddress = formatAddress(socket.localAddress, socket.localPort);
    this.log = options.logger.child({ peer: this.remoteAddress });
    this.sender = new Sender(socket, this.stats, {
      produce: (room) => this.handler.onWritable?.(this, room) ?? false,
      flushed: () => this.emit('flushed'),
    });
    this.keepalive = new KeepaliveManager({
      sendKeepalive: () => {
        // Straight to the socket (between whole frames): never held back by pacing or the window.
        this.sender.sendOwnKeepalive();
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
      this.sender.requestFlush();
      this.emit('flushed');
    });
  }

  get state(): SessionState {
    return this._state;
  }

  get established(): boolean {
    return this._state === SessionState.ESTABLISHED;
  }

  /** Bytes queued by the session, not yet handed to the socket. */
  get queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  /** Bytes handed to the socket that it has not written to the kernel yet. */
  get socketBytes(): number {
    return this.socket.writableLength;
  }

  /** Total bytes the socket wrote to the kernel so far (write progress). */
  get totalWrittenBytes(): number {
    return this.stats.bytesOut - this.socket.writableLength;
  }

  /** Whether writes to the peer are paced. */
  get paced(): boolean {
    return this.sender.paced;
  }

  /** Starts the handshake; the client sends its HELLO. */
  start(): void {
    const helloMs =
      this.options.helloTimeoutMs ??
      this.options.keepaliveSeconds * KEEPALIVE_TIMEOUT_FACTOR * this.secondMs;
    this.keepalive.startHello(helloMs);
    if (this.role === 'client') {
      const hello = encodeHello(this.options.keepaliveSeconds, false, this.options.features);
      this.sender.writeNow(hello, MessageType.HELLO);
      this.setState(SessionState.HELLO_SENT);
    }
  }

  /**
   * Queues complete frames `buf[start, end)` (`frames` of them; more than one are UPDATEs) for a
   * coalesced write. The bytes must not change until handed to the socket.
   */
  send(buf: Buffer, frames = 1, start = 0, end = buf.length): void {
    this.sender.send(buf, frames, start, end);
  }

  /** Asks for a flush in this event-loop turn (e.g. the owner has something to produce). */
  requestFlush(): void {
    this.sender.requestFlush();
  }

  /**
   * Copies what is queued into one buffer, so that the shared buffers it points into can be freed
   * (a subscriber that falls behind would otherwise pin the fan-out arenas).
   */
  consolidateQueue(): void {
    this.sender.consolidate();
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
    this.keepalive.stop();
    this.sender.stop();
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
    } catch (e) {
      this.handlerEnd();
      this.close(
        e instanceof MetalBondError
          ? e
          : new InternalError(`failed handling a message: ${String(e)}`, { cause: e }),
      );
      return;
    }
    this.handlerEnd();
  }

  /** onChunkEnd, whose own failure is an internal error. */
  private handlerEnd(): void {
    try {
      this.handler.onChunkEnd?.(this);
    } catch (e) {
      this.close(new InternalError(`failed after a chunk: ${String(e)}`, { cause: e }));
    }
  }

  private readonly onFrame = (type: number, buf: Buffer, start: number, end: number): void => {
    if (this._state === SessionState.CLOSED) return;
    this.stats.messagesIn++;
    this.stats.inByType[type] = (this.stats.inByType[type] ?? 0) + 1;
    if (this._state === SessionState.ESTABLISHED) {
      const h = this.handler;
      switch (type) {
        case MessageType.UPDATE:
          h.onUpdate(this, buf, start, end);
          return;
        case MessageType.KEEPALIVE:
          if (this.role === 'server') this.sender.replyKeepalive();
          else this.keepaliveAnswered();
          return;
        case MessageType.SUBSCRIBE:
        case MessageType.UNSUBSCRIBE: {
          const vni = decodeSubscriptionVni(buf, start, end);
          if (this.role === 'client') {
            // As rustbond does: a server has no business sending these; ignored.
            this.log.warn(
              { vni, message: MESSAGE_TYPE_NAMES[type] },
              'ignored message from server',
            );
          } else if (type === MessageType.SUBSCRIBE) h.onSubscribe?.(this, vni);
          else h.onUnsubscribe?.(this, vni);
          return;
        }
        case MessageType.SYNCED:
          h.onSynced?.(this, decodeSubscriptionVni(buf, start, end));
          return;
        case MessageType.REFUSED:
          h.onRefused?.(this, decodeRefused(buf, start, end));
          return;
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
        this.helloReceived(m);
        // Our features only to a peer that sent the field: Go and rustbond get Go's exact bytes.
        const own = this.features.peer === undefined ? undefined : this.options.features;
        this.sender.writeNow(encodeHello(this.keepaliveSeconds ?? 1, true, own), MessageType.HELLO);
        this.setState(SessionState.HELLO_RECEIVED);
        return;
      }
      if (state === SessionState.HELLO_RECEIVED && m.type === 'KEEPALIVE') {
        this.sender.writeNow(encodeKeepalive(), MessageType.KEEPALIVE);
        this.becomeEstablished();
        return;
      }
    } else {
      if (state === SessionState.HELLO_SENT && m.type === 'HELLO') {
        this.helloReceived(m);
        this.sender.writeNow(encodeKeepalive(), MessageType.KEEPALIVE);
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

  /** The peer's HELLO: keepalive and features negotiated, send path set up for this peer. */
  private helloReceived(m: HelloMessage): void {
    checkHello(m);
    this.keepaliveSeconds = negotiateKeepalive(this.options.keepaliveSeconds, m.keepaliveInterval);
    const own = this.options.features;
    const peer = own === undefined ? undefined : m.features;
    if (own !== undefined && peer !== undefined) {
      const both = own & peer;
      this.features = {
        peer,
        reassembly: (peer & Feature.REASSEMBLY) !== 0,
        syncMarker: (both & Feature.SYNC_MARKER) !== 0,
        refusals: (both & Feature.REFUSALS) !== 0,
      };
      if (this.role === 'client') {
        if (this.features.syncMarker) this.decoder.allowType(MessageType.SYNCED);
        if (this.features.refusals) this.decoder.allowType(MessageType.REFUSED);
      }
    }
    if (!this.features.reassembly) {
      const pacing = this.options.pacing;
      this.sender.configure(
        pacing === undefined ? undefined : new Pacer(pacing, Date.now()),
        this.role === 'client' ? this.options.ackWindowBytes : undefined,
      );
    }
  }

  private keepaliveAnswered(): void {
    const rtt = this.sender.keepaliveAnswered();
    if (rtt !== undefined) this.handler.onKeepaliveRtt?.(this, rtt);
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
