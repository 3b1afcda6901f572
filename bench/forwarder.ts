/**
 * The trivial forwarder: the ceiling of the fan-out measurement. A do-nothing, single-threaded
 * Node process that completes the server side of the handshake, answers KEEPALIVEs, and writes
 * every UPDATE it reads from one connection, byte for byte, to all other connections. No route
 * table, no validation, no per-subscriber state; only frame boundaries (so that frames from
 * different senders never interleave) and TCP back-pressure (reading stops while a receiver has
 * more than 4 MiB queued, like the real server's flow control).
 *
 * Usage: node --import tsx bench/forwarder.ts [--listen [::1]:0]; reports
 * {event:'listening', port} over IPC when forked, else prints it as a JSON line.
 */

import { createServer, type Socket } from 'node:net';
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

function forward(from: Conn, bytes: Buffer): void {
  for (const c of conns) {
    if (c === from || !c.established) continue;
    c.socket.write(bytes);
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

const { values } = parseArgs({ options: { listen: { type: 'string', default: '[::1]:0' } } });
const hp = parseHostPort(values.listen);

const server = createServer({ noDelay: true }, (socket) => {
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
});

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
