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
  /** The datagram it was sent in: an acknowledgement answers the requests before it there. */
  readonly datagram: Datagram;
  /** Its place in the datagram's requests. */
  readonly index: number;
}

/** A datagram being filled, waiting to be sent, or sent. */
interface Datagram {
  /** Its bytes until the socket has taken them (then the buffer is reused). */
  buf: Buffer | undefined;
  len: number;
  /** Offset of the last message (the one that keeps NLM_F_ACK). */
  last: number;
  readonly reqs: Pending[];
  sent: boolean;
  /** Requests before this index are answered (each answer covers the ones before it). */
  answered: number;
}

/** Size of a datagram buffer (reused); larger messages get a buffer of their own. */
const DATAGRAM_BYTES = 32 * 1024;

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
  /** The datagram being filled. */
  private current: Datagram | undefined;
  /** Datagrams filled, waiting for the socket (one is handed to it at a time). */
  private readonly outgoing: Datagram[] = [];
  /** Buffers of sent datagrams, for the next ones. */
  private readonly spare: Buffer[] = [];
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
    const off = this.reserve(message.length);
    message.copy(this.buffer, off);
    this.commit(seq, message.length, done, onReply);
  }

  /**
   * Room for a message of up to `maxLen` bytes in the datagram being filled: returns the offset
   * at which to write it into `buffer`; commit() then queues it. Requests written this way cost
   * no buffer of their own.
   */
  reserve(maxLen: number): number {
    let d = this.current;
    if (d?.buf !== undefined && d.len + maxLen > d.buf.length) {
      this.seal();
      d = undefined;
    }
    if (d?.buf === undefined) {
      const buf =
        maxLen <= DATAGRAM_BYTES
          ? (this.spare.pop() ?? Buffer.allocUnsafe(DATAGRAM_BYTES))
          : Buffer.allocUnsafe(maxLen);
      d = { buf, len: 0, last: -1, reqs: [], sent: false, answered: 0 };
      this.current = d;
    }
    return d.len;
  }

  /** The buffer of the datagram being filled (valid after reserve()). */
  get buffer(): Buffer {
    const b = this.current?.buf;
    if (b === undefined) throw new Error('reserve() first');
    return b;
  }

  /**
   * Queues the request just written at the offset reserve() gave (`len` bytes, NLM_F_ACK set, as
   * the encoders write it). `onReply` receives messages answering it (e.g. RTM_NEWLINK).
   */
  commit(
    seq: number,
    len: number,
    done: Completion,
    onReply?: (buf: Buffer, h: MessageHeader) => void,
  ): void {
    const d = this.current;
    const buf = d?.buf;
    if (d === undefined || buf === undefined) throw new Error('reserve() first');
    if (this.closed) {
      done('ECANCELED');
      return;
    }
    // One NLM_F_ACK per datagram, on its last request: the kernel runs a datagram's requests in
    // order and answers every failure anyway (with its sequence number), so that acknowledgement
    // also means success for every earlier request that got no error. A kernel answer is a
    // datagram of its own, which costs more than the request here.
    if (d.last >= 0) buf[d.last + 6] = (buf[d.last + 6] ?? 0) & ~NLM_F_ACK;
    d.last = d.len;
    d.len += (len + 3) & ~3;
    const p: Pending = { seq, done, onReply, datagram: d, index: d.reqs.length };
    this.pending.set(seq, p);
    d.reqs.push(p);
    if (d.reqs.length >= this.options.batch) {
      this.seal();
      this.flush();
    }
  }

  /**
   * Sends queued requests, one datagram (up to `batch` requests) at a time: the next goes when the
   * socket has taken the last one. The kernel runs a datagram inside the send call, on this
   * thread, so this bounds the time one event-loop turn spends in the kernel.
   */
  flush(): void {
    // While the socket is busy, the datagram being filled goes on taking requests.
    if (this.sendBusy || this.closed) return;
    if (this.outgoing.length === 0) this.seal();
    const d = this.outgoing.shift();
    const buf = d?.buf;
    if (d === undefined || buf === undefined) return;
    this.datagramsSent++;
    d.sent = true;
    this.sendBusy = true;
    this.transport.send([buf.subarray(0, d.len)], (errno) => {
      this.sendBusy = false;
      // The socket has taken (copied) the bytes: the buffer serves the next datagram.
      d.buf = undefined;
      if (buf.length === DATAGRAM_BYTES && this.spare.length < 4) this.spare.push(buf);
      // Never reached the kernel: complete them with the send error.
      if (errno !== undefined) for (const r of d.reqs) this.complete(r.seq, errno);
      this.flush();
      this.drainListener();
    });
  }

  /** Ends the datagram being filled: it waits for the socket. */
  private seal(): void {
    const d = this.current;
    if (d === undefined) return;
    this.current = undefined;
    if (d.reqs.length > 0) this.outgoing.push(d);
    else if (d.buf?.length === DATAGRAM_BYTES) this.spare.push(d.buf);
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
          // The requests before it in its datagram that got no error succeeded: the kernel runs
          // them in order and answers each failure. Each is looked at once per datagram.
          const d = p.datagram;
          for (let i = d.answered; i < p.index; i++) {
            const r = d.reqs[i];
            if (r !== undefined) this.complete(r.seq, undefined);
          }
          if (p.index >= d.answered) d.answered = p.index + 1;
          this.complete(h.seq, code === 0 ? undefined : errnoFromNumber(code));
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
    for (const p of [...this.pending.values()])
      if (p.datagram.sent) this.complete(p.seq, 'ENOBUFS');
    if (this.dumpJob !== undefined) this.dumpJob.interrupted = true;
    this.overrunListener();
  }
}
