/**
 * The send path of a session. Frames are queued (SendQueue) and handed to the socket once per
 * event-loop turn, at most about SOCKET_BUDGET bytes beyond what the socket has drained; the rest
 * waits, and when the queue is empty the owner may produce more. Towards a peer that does not
 * reassemble the TCP stream the writes are paced, and a client holds them to an ack window (a
 * KEEPALIVE round trip per window). Control frames (HELLO, our KEEPALIVEs, replies) go straight
 * to the socket, between whole frames.
 */

import type { Socket } from 'node:net';

import { encodeKeepalive } from '../wire/encode.js';
import { HEADER_TYPE_OFFSET, MessageType } from '../wire/messages.js';
import { scheduleFlush } from './flush.js';
import type { Pacer } from './pacing.js';
import { SendQueue } from './send-queue.js';

/** Bytes a session hands its socket beyond what the socket has drained. */
export const SOCKET_BUDGET = 256 * 1024;

/** Most KEEPALIVE send times kept for round-trip times. */
const MAX_KEEPALIVE_TIMES = 64;

export interface SenderStats {
  bytesOut: number;
  messagesOut: number;
  writes: number;
  readonly outByType: number[];
}

export interface SenderHost {
  /**
   * The queue is empty and the socket can take about `room` more bytes: queue more with send().
   * Returns whether more is waiting after what was queued.
   */
  produce(room: number): boolean;
  /** Frames were handed to the socket (or the socket drained). */
  flushed(): void;
}

export class Sender {
  private readonly queue = new SendQueue();
  private flushScheduled = false;
  private stopped = false;
  private pacer: Pacer | undefined;
  private pacingTimer: NodeJS.Timeout | undefined;
  /** The owner has more to send than it queued (asked again when there is room). */
  private moreWaiting = false;
  /** Ack window (client role, towards a server that does not reassemble). */
  private window: number | undefined;
  private windowProbe = 0;
  private windowUsed = 0;
  private keepalivesSent = 0;
  private keepalivesAnswered = 0;
  /** Send times of our KEEPALIVEs not answered yet (for the round-trip time). */
  private keepaliveTimes: number[] = [];

  constructor(
    private readonly socket: Pick<Socket, 'writableLength' | 'write' | 'cork' | 'uncork'>,
    private readonly stats: SenderStats,
    private readonly host: SenderHost,
  ) {}

  /** Pacing and an ack window for a peer that does not reassemble the stream (after HELLO). */
  configure(pacer: Pacer | undefined, windowBytes: number | undefined): void {
    this.pacer = pacer;
    this.window = windowBytes;
  }

  get paced(): boolean {
    return this.pacer !== undefined;
  }

  /** Bytes queued, not yet handed to the socket. */
  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /** Queues complete frames `buf[start, end)` (`frames` of them; more than one are UPDATEs). */
  send(buf: Buffer, frames: number, start: number, end: number): void {
    if (this.stopped) return;
    this.countOut(
      frames === 1 ? (buf[start + HEADER_TYPE_OFFSET] ?? 0) : MessageType.UPDATE,
      frames,
    );
    if (this.queue.push(buf, start, end)) this.requestFlush();
  }

  /** Asks for a flush in this event-loop turn. */
  requestFlush(): void {
    if (this.stopped || this.flushScheduled || this.pacingTimer !== undefined) return;
    this.flushScheduled = true;
    scheduleFlush(this);
  }

  /** Copies the queue into one buffer (it must not pin the shared fan-out buffers). */
  consolidate(): void {
    this.queue.consolidate();
  }

  /** Hands queued frames to the socket (the flush scheduler, 'drain', a pacing timer). */
  flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    if (this.window !== undefined) this.flushWindowed(this.window);
    else if (this.pacer !== undefined) this.flushPaced(this.pacer);
    else this.flushDirect(true);
    this.host.flushed();
  }

  /** Writes a control frame now, ahead of everything queued. */
  writeNow(data: Buffer, type: number): void {
    if (this.stopped) return;
    this.countOut(type, 1);
    this.stats.bytesOut += data.length;
    this.stats.writes++;
    this.socket.write(data);
  }

  /**
   * A KEEPALIVE reply (server role): what is queued and may go now goes first, so the reply
   * follows everything queued before it whenever the socket budget and the pacing allow, and never
   * waits behind more.
   */
  replyKeepalive(): void {
    if (!this.queue.empty) {
      const pacer = this.pacer;
      if (pacer === undefined) {
        this.flushDirect(false);
      } else {
        const room = SOCKET_BUDGET - this.socket.writableLength;
        pacer.consume(this.handOver(Math.min(room, pacer.available(Date.now()))));
      }
    }
    this.writeNow(encodeKeepalive(), MessageType.KEEPALIVE);
  }

  /** A KEEPALIVE of our own (client role: periodic, or an ack-window probe). */
  sendOwnKeepalive(): void {
    this.keepalivesSent++;
    if (this.keepaliveTimes.length < MAX_KEEPALIVE_TIMES) this.keepaliveTimes.push(Date.now());
    this.writeNow(encodeKeepalive(), MessageType.KEEPALIVE);
  }

  /** The reply to one of our KEEPALIVEs: returns its round trip in ms when known. */
  keepaliveAnswered(): number | undefined {
    this.keepalivesAnswered++;
    const sentAt = this.keepaliveTimes.shift();
    if (this.windowProbe > 0 && this.keepalivesAnswered >= this.windowProbe) {
      this.windowProbe = 0;
      if (!this.queue.empty) this.flush();
    }
    return sentAt === undefined ? undefined : Date.now() - sentAt;
  }

  /** No more writes: timers stopped, the queue dropped. */
  stop(): void {
    this.stopped = true;
    if (this.pacingTimer !== undefined) clearTimeout(this.pacingTimer);
    this.pacingTimer = undefined;
    this.queue.clear();
  }

  private countOut(type: number, n: number): void {
    this.stats.messagesOut += n;
    this.stats.outByType[type] = (this.stats.outByType[type] ?? 0) + n;
  }

  /** Unpaced: up to the socket budget, producing more from the owner while there is room. */
  private flushDirect(produce: boolean): void {
    const socket = this.socket;
    let room = SOCKET_BUDGET - socket.writableLength;
    let corked = false;
    while (room > 0) {
      if (this.queue.empty && (!produce || !this.produce(room))) break;
      if (!corked) {
        socket.cork();
        corked = true;
      }
      const n = this.handOver(room);
      if (n === 0) break; // the next frame is larger than the room left: on 'drain'
      room -= n;
    }
    if (corked) socket.uncork();
  }

  /** Asks the owner for more frames; whether it queued any. */
  private produce(room: number): boolean {
    this.moreWaiting = this.host.produce(room);
    return !this.queue.empty;
  }

  /** Hands up to `budget` bytes of whole queued frames to the socket; returns the bytes. */
  private handOver(budget: number): number {
    const socket = this.socket;
    const n = this.queue.take(budget, (b) => {
      socket.write(b);
      this.stats.writes++;
    });
    this.stats.bytesOut += n;
    return n;
  }

  /** Ack window: sends up to the window, then a KEEPALIVE probe; the rest after its reply. */
  private flushWindowed(window: number): void {
    if (this.windowProbe > 0) return; // resumed by the KEEPALIVE reply
    const pacer = this.pacer;
    const room = window - this.windowUsed;
    const tokens = pacer === undefined ? room : pacer.available(Date.now());
    const sent = this.handOver(Math.min(room, tokens));
    pacer?.consume(sent);
    this.windowUsed += sent;
    if (!this.queue.empty && window - this.windowUsed < this.queue.firstFrameSize()) {
      // Window full: probe, and wait for the reply.
      this.sendOwnKeepalive();
      this.windowProbe = this.keepalivesSent;
      this.windowUsed = 0;
    } else if (pacer !== undefined && !this.queue.empty) {
      this.schedulePaced(pacer);
    }
  }

  /** Writes as many whole frames as the pacer allows now; the rest when tokens are back. */
  private flushPaced(pacer: Pacer): void {
    const room = SOCKET_BUDGET - this.socket.writableLength;
    if (room <= 0) return; // resumed on 'drain'
    if (this.queue.empty && !this.produce(Math.min(room, pacer.options.burstBytes))) return;
    const sent = this.handOver(Math.min(room, pacer.available(Date.now())));
    pacer.consume(sent);
    // Once more after the queue emptied: the owner may have more to produce by then.
    if (!this.queue.empty || sent > 0 || this.moreWaiting) this.schedulePaced(pacer);
  }

  private schedulePaced(pacer: Pacer): void {
    if (this.pacingTimer !== undefined) return;
    const next = Math.max(this.queue.firstFrameSize(), pacer.options.burstBytes / 2);
    this.pacingTimer = setTimeout(
      () => {
        this.pacingTimer = undefined;
        this.flush();
      },
      Math.max(1, pacer.delayFor(next)),
    );
  }
}
