/**
 * Pipelined netlink requests over one socket. Requests are numbered, gathered into datagrams of up
 * to `batch` messages (the kernel runs a datagram's messages in order, inside the send call) and
 * kept in flight up to `window` at once. Each is completed by the kernel's answer: its error, or
 * the acknowledgement (NLM_F_ACK) that ends its datagram.
 * Dumps run one at a time. Messages that answer nothing of ours (other processes' changes, link
 * events) go to the notification listener; notifications caused by our own requests carry the
 * request's sequence number and are dropped.
 *
 * If the receive buffer overflows (ENOBUFS on the socket), acknowledgements may be lost: every
 * request in flight is completed with 'ENOBUFS' (the caller retries; replace and delete are
 * idempotent) and the overrun listener is told (notifications were lost too).
 */

import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP_INTR } from './constants.js';
import { doneCode, errorCode, forEachMessage, type MessageHeader } from './decode.js';
import { errnoFromNumber, type NetlinkTransport } from './transport.js';

/** undefined: success; otherwise the errno name. */
export type Completion = (errno: string | undefined) => void;

interface Pending {
  readonly seq: number;
  readonly done: Completion;
  readonly onReply: ((buf: Buffer, h: MessageHeader) => void) | undefined;
  /** The last request of a datagram: the others sent with it (answered by its acknowledgement). */
  datagram: Pending[] | undefined;
}

interface DumpJob {
  readonly seq: number;
  readonly message: Buffer;
  readonly onMessage: (buf: Buffer, h: MessageHeader) => void;
  readonly resolve: (r: DumpResult) => void;
  interrupted: boolean;
}

export interface DumpResult {
  /** undefined when the dump completed. */
  readonly errno: string | undefined;
  /** The kernel flagged the dump as inconsistent (changed while dumped), or messages were lost. */
  readonly interrupted: boolean;
}

export interface ChannelOptions {
  /** Requests in flight at most (sent, not yet acknowledged). */
  readonly window: number;
  /** Requests per datagram at most. */
  readonly batch: number;
}

export class NetlinkChannel {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private outgoing: Buffer[] = [];
  private outgoingReqs: Pending[] = [];
  private dumpJob: DumpJob | undefined;
  private readonly dumpQueue: DumpJob[] = [];
  private notificationListener: (buf: Buffer, h: MessageHeader) => void = () => undefined;
  private overrunListener: () => void = () => undefined;
  private drainListener: () => void = () => undefined;
  private sendBusy = false;
  private closed = false;
  /** Datagrams sent and messages received, for counters. */
  datagramsSent = 0;
  overruns = 0;

  constructor(
    private readonly transport: NetlinkTransport,
    readonly options: ChannelOptions,
  ) {
    transport.onMessage((d) => {
      this.receive(d);
    });
    transport.onError((errno) => {
      this.socketError(errno);
    });
  }

  onNotification(fn: (buf: Buffer, h: MessageHeader) => void): void {
    this.notificationListener = fn;
  }

  onOverrun(fn: () => void): void {
    this.overrunListener = fn;
  }

  /** A fresh sequence number (never 0: notifications from the kernel itself carry 0). */
  nextSeq(): number {
    this.seq = this.seq >= 0xfffffffe ? 1 : this.seq + 1;
    return this.seq;
  }

  /** Requests queued or in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** How many more requests may be queued now. */
  get room(): number {
    return Math.max(0, this.options.window - this.pending.size);
  }

  /**
   * Queues a request (encoded with `seq` from nextSeq()); sent with the next flush() or as soon
   * as a datagram is full. `onReply` receives messages answering it (e.g. RTM_NEWLINK).
   */
  request(
    seq: number,
    message: Buffer,
    done: Completion,
    onReply?: (buf: Buffer, h: MessageHeader) => void,
  ): void {
    if (this.closed) {
      done('ECANCELED');
      return;
    }
    const p: Pending = { seq, done, onReply, datagram: undefined };
    this.pending.set(seq, p);
    this.outgoing.push(message);
    this.outgoingReqs.push(p);
    if (this.outgoing.length >= this.options.batch) this.flush();
  }

  /**
   * Sends queued requests, one datagram (up to `batch` requests) at a time: the next goes when the
   * socket has taken the last one. The kernel runs a datagram inside the send call, on this
   * thread, so this bounds the time one event-loop turn spends in the kernel.
   */
  flush(): void {
    if (this.sendBusy || this.outgoing.length === 0 || this.closed) return;
    const n = Math.min(this.outgoing.length, this.options.batch);
    const buffers = this.outgoing.splice(0, n);
    const reqs = this.outgoingReqs.splice(0, n);
    this.datagramsSent++;
    // One NLM_F_ACK per datagram, on its last request: the kernel runs a datagram's requests in
    // order and answers every failure anyway (with its sequence number), so that acknowledgement
    // also means success for every earlier request that got no error. A kernel answer is a
    // datagram of its own, which costs more than the request here.
    const last = reqs[reqs.length - 1];
    if (last !== undefined && reqs.length > 1) {
      last.datagram = reqs;
      for (let i = 0; i < buffers.length - 1; i++) {
        const b = buffers[i];
        if (b !== undefined) b.writeUInt16LE(b.readUInt16LE(6) & ~NLM_F_ACK, 6);
      }
    }
    this.sendBusy = true;
    this.transport.send(buffers, (errno) => {
      this.sendBusy = false;
      // Never reached the kernel: complete them with the send error.
      if (errno !== undefined) for (const r of reqs) this.complete(r.seq, errno);
      this.flush();
      this.drainListener();
    });
  }

  /** Called when a datagram has been taken by the socket (room to queue more). */
  onDrain(fn: () => void): void {
    this.drainListener = fn;
  }

  /** Runs a dump (after any running one); `onMessage` gets each message of the answer. */
  dump(
    seq: number,
    message: Buffer,
    onMessage: (buf: Buffer, h: MessageHeader) => void,
  ): Promise<DumpResult> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve({ errno: 'ECANCELED', interrupted: true });
        return;
      }
      this.dumpQueue.push({ seq, message, onMessage, resolve, interrupted: false });
      this.startDump();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const seq of [...this.pending.keys()]) this.complete(seq, 'ECANCELED');
    this.finishDump('ECANCELED');
    for (const j of this.dumpQueue.splice(0)) j.resolve({ errno: 'ECANCELED', interrupted: true });
    this.transport.close();
  }

  private startDump(): void {
    if (this.dumpJob !== undefined || this.closed) return;
    const job = this.dumpQueue.shift();
    if (job === undefined) return;
    this.dumpJob = job;
    this.datagramsSent++;
    this.transport.send([job.message], (errno) => {
      if (errno !== undefined && this.dumpJob === job) this.finishDump(errno);
    });
  }

  private finishDump(errno: string | undefined): void {
    const job = this.dumpJob;
    if (job === undefined) return;
    this.dumpJob = undefined;
    job.resolve({ errno, interrupted: job.interrupted });
    this.startDump();
  }

  private complete(seq: number, errno: string | undefined): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    this.pending.delete(seq);
    p.done(errno);
  }

  private receive(datagram: Buffer): void {
    if (this.closed) return;
    forEachMessage(datagram, (h) => {
      const job = this.dumpJob;
      if (job?.seq === h.seq) {
        if (h.type === NLMSG_DONE || h.type === NLMSG_ERROR) {
          const code = h.type === NLMSG_DONE ? doneCode(datagram, h) : errorCode(datagram, h);
          if ((h.flags & NLM_F_DUMP_INTR) !== 0) job.interrupted = true;
          this.finishDump(code === 0 ? undefined : errnoFromNumber(code));
        } else {
          if ((h.flags & NLM_F_DUMP_INTR) !== 0) job.interrupted = true;
          job.onMessage(datagram, h);
        }
        return;
      }
      const p = h.seq === 0 ? undefined : this.pending.get(h.seq);
      if (p !== undefined) {
        if (h.type === NLMSG_ERROR) {
          const code = errorCode(datagram, h);
          this.complete(h.seq, code === 0 ? undefined : errnoFromNumber(code));
          // The others of its datagram that got no error succeeded.
          if (p.datagram !== undefined) for (const r of p.datagram) this.complete(r.seq, undefined);
        } else {
          p.onReply?.(datagram, h);
        }
        return;
      }
      if (h.type !== NLMSG_ERROR) this.notificationListener(datagram, h);
    });
  }

  private socketError(errno: string): void {
    if (errno !== 'ENOBUFS') return;
    this.overruns++;
    // Acknowledgements may be lost: every request already sent is completed as lost.
    const queued = new Set(this.outgoingReqs.map((r) => r.seq));
    for (const seq of [...this.pending.keys()]) if (!queued.has(seq)) this.complete(seq, 'ENOBUFS');
    if (this.dumpJob !== undefined) this.dumpJob.interrupted = true;
    this.overrunListener();
  }
}
