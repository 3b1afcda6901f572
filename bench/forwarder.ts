/**
 * The trivial forwarder: the ceiling of the fan-out measurement. A do-nothing, single-threaded
 * Node process that completes the server side of the handshake, answers KEEPALIVEs, and sends
 * every UPDATE it reads from one connection, byte for byte, to all other connections. No route
 * table, no validation, no subscriptions; only frame boundaries (so that frames from different
 * senders never interleave) and TCP back-pressure (reading stops while a receiver has more than
 * 4 MiB queued, like the real server's flow control).
 *
 * Writes are as cheap as the server's (src/session/session.ts flush) or cheaper: the ranges of
 * received chunks meant for a receiver are queued (consecutive ranges of one chunk merged, no
 * copy) and each receiver with something queued gets one gathered write per event-loop turn
 * (cork, write the ranges, uncork: one writev), scheduled with setImmediate after the turn's
 * reads. KEEPALIVE and HELLO replies go straight to the socket, ahead of queued data.
 *
 * Usage: node --import tsx bench/forwarder.ts [--listen [::1]:0] [--tls-cert F --tls-key F
 * --tls-ca F]; reports {event:'listening', port} over IPC when forked, else prints it as a JSON
 * line. With the TLS files it listens for mutual TLS instead (clients must present a certificate
 * signed by the CA): the ceiling of fan-out over TLS, and the generator's TLS path tested without
 * a server that has TLS.
 */

import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { parseArgs } from 'node:util';

import { encodeHello, encodeKeepalive } from '../src/wire/encode.js';
import { parseHostPort } from '../src/net-address.js';

const HEADER = 4;
const MAX_FRAME = HEADER + 1188;
const TYPE_HELLO = 1;
const TYPE_KEEPALIVE = 2;
const TYPE_UPDATE = 5;
const QUEUE_LIMIT = 4 * 1024 * 1024;

const HELLO_REPLY = encodeHello(5, true);
const KEEPALIVE = encodeKeepalive();

class Conn {
  established = false;
  private readonly carry = Buffer.allocUnsafe(MAX_FRAME);
  private carryLen = 0;
  /** Queued ranges [bufs[i] from starts[i] to ends[i]), written by flush(). */
  private bufs: Buffer[] = [];
  private starts: number[] = [];
  private ends: number[] = [];

  constructor(readonly socket: Socket) {}

  /** Splits a chunk into frames; runs of UPDATE frames are forwarded as one range. */
  onData(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    if (this.carryLen > 0) {
      pos = this.completeCarry(chunk);
      if (pos < 0) return;
    }
    let runStart = pos;
    while (len - pos >= HEADER) {
      const size = ((chunk[pos + 1] ?? 0) << 8) | (chunk[pos + 2] ?? 0);
      const end = pos + HEADER + size;
      if (end > len) break;
      const type = chunk[pos + 3] ?? 0;
      if (type !== TYPE_UPDATE || !this.established) {
        if (pos > runStart) forward(this, chunk.subarray(runStart, pos));
        this.control(type);
        runStart = end;
      }
      pos = end;
    }
    if (pos > runStart) forward(this, chunk.subarray(runStart, pos));
    if (pos < len) {
      chunk.copy(this.carry, 0, pos, len);
      this.carryLen = len - pos;
    }
  }

  private completeCarry(chunk: Buffer): number {
    const c = this.carry;
    let pos = 0;
    if (this.carryLen < HEADER) {
      const take = Math.min(HEADER - this.carryLen, chunk.length);
      chunk.copy(c, this.carryLen, 0, take);
      this.carryLen += take;
      pos = take;
      if (this.carryLen < HEADER) return -1;
    }
    const total = HEADER + (((c[1] ?? 0) << 8) | (c[2] ?? 0));
    const take = Math.min(total - this.carryLen, chunk.length - pos);
    chunk.copy(c, this.carryLen, pos, pos + take);
    this.carryLen += take;
    pos += take;
    if (this.carryLen < total) return -1;
    this.carryLen = 0;
    const type = c[3] ?? 0;
    if (type === TYPE_UPDATE && this.established) forward(this, Buffer.from(c.subarray(0, total)));
    else this.control(type);
    return pos;
  }

  /**
   * Queues a range (a subarray of a received chunk: its `buffer` and offset identify it);
   * returns true when the queue was empty (the caller schedules the flush).
   */
  queue(bytes: Buffer): boolean {
    const n = this.bufs.length;
    const last = this.bufs[n - 1];
    if (last?.buffer === bytes.buffer && this.ends[n - 1] === bytes.byteOffset) {
      this.ends[n - 1] = bytes.byteOffset + bytes.length;
      return false;
    }
    this.bufs.push(bytes);
    this.starts.push(bytes.byteOffset);
    this.ends.push(bytes.byteOffset + bytes.length);
    return n === 0;
  }

  /** One gathered write of everything queued. */
  flush(): void {
    const n = this.bufs.length;
    if (n === 0) return;
    const bufs = this.bufs;
    const starts = this.starts;
    const ends = this.ends;
    this.bufs = [];
    this.starts = [];
    this.ends = [];
    if (this.socket.destroyed) return;
    if (n > 1) this.socket.cork();
    for (let i = 0; i < n; i++) {
      const b = bufs[i] as Buffer;
      const start = starts[i] ?? 0;
      const end = ends[i] ?? 0;
      // A merged range spans several subarrays of one chunk: one view over the whole range.
      this.socket.write(
        start === b.byteOffset && end === b.byteOffset + b.length
          ? b
          : Buffer.from(b.buffer, start, end - start),
      );
    }
    if (n > 1) this.socket.uncork();
  }

  private control(type: number): void {
    if (type === TYPE_HELLO && !this.established) this.socket.write(HELLO_REPLY);
    else if (type === TYPE_KEEPALIVE) {
      this.socket.write(KEEPALIVE);
      this.established = true;
    }
  }
}

const conns = new Set<Conn>();
const congested = new Set<Conn>();
/** Receivers with queued ranges, flushed once per turn. */
let dirty: Conn[] = [];
let flushScheduled = false;

/** Queues `bytes` (whole UPDATE frames of `from`) for every other established connection. */
function forward(from: Conn, bytes: Buffer): void {
  for (const c of conns) {
    if (c === from || !c.established) continue;
    if (c.queue(bytes)) {
      dirty.push(c);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }
}

function flushAll(): void {
  flushScheduled = false;
  const batch = dirty;
  dirty = [];
  for (const c of batch) {
    c.flush();
    if (c.socket.writableLength > QUEUE_LIMIT && !congested.has(c)) {
      congested.add(c);
      if (congested.size === 1) for (const x of conns) x.socket.pause();
      c.socket.once('drain', () => {
        uncongest(c);
      });
    }
  }
}

function uncongest(c: Conn): void {
  if (congested.delete(c) && congested.size === 0) for (const x of conns) x.socket.resume();
}

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '[::1]:0' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
  },
});
const hp = parseHostPort(values.listen);

function onConnection(socket: Socket): void {
  socket.setNoDelay(true);
  const c = new Conn(socket);
  conns.add(c);
  if (congested.size > 0) socket.pause();
  socket.on('data', (chunk: Buffer) => {
    c.onData(chunk);
  });
  socket.on('error', () => {
    socket.destroy();
  });
  socket.on('close', () => {
    conns.delete(c);
    uncongest(c);
  });
}

const tlsFiles = [values['tls-cert'], values['tls-key'], values['tls-ca']];
if (tlsFiles.some((f) => f !== undefined) && tlsFiles.some((f) => f === undefined)) {
  throw new Error('forwarder: --tls-cert, --tls-key and --tls-ca go together');
}
const server =
  values['tls-cert'] === undefined
    ? createServer({ noDelay: true }, onConnection)
    : createTlsServer(
        {
          cert: readFileSync(values['tls-cert']),
          key: readFileSync(values['tls-key'] ?? ''),
          ca: readFileSync(values['tls-ca'] ?? ''),
          requestCert: true,
          rejectUnauthorized: true,
        },
        onConnection,
      );
// A refused TLS handshake (no or a wrong client certificate) is not the forwarder's failure.
server.on('tlsClientError', () => undefined);

server.listen({ host: hp.host, port: hp.port }, () => {
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : hp.port;
  const msg = { event: 'listening', host: hp.host, port };
  if (process.send !== undefined) process.send(msg);
  else process.stdout.write(`${JSON.stringify(msg)}\n`);
});

process.on('disconnect', () => process.exit(0));
process.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && (m as { op?: unknown }).op === 'shutdown') {
    process.exit(0);
  }
});
