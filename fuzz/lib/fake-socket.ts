/**
 * An in-memory socket for driving a Session without the network: provides what Session uses of a
 * net.Socket (data/end/error/close/drain events, write/cork/uncork, pause/resume, destroy,
 * addresses, writableLength). The test side pushes bytes in with `deliver()` and reads what the
 * session wrote from `written`.
 */

import { Duplex } from 'node:stream';

export class FakeSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress = '::1';
  readonly localPort = 4711;
  /** Everything the session wrote, in order. */
  written: Buffer[] = [];
  writtenBytes = 0;
  /** Writes after destroy() (a session must not write to a destroyed socket). */
  writesAfterDestroy = 0;
  private paused = false;
  private held: Buffer[] = [];

  constructor(remoteAddress = '::1', remotePort = 40000) {
    super({ allowHalfOpen: false });
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    // Data is pushed by deliver() as 'data' events.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.destroyed) this.writesAfterDestroy++;
    this.written.push(chunk);
    this.writtenBytes += chunk.length;
    cb();
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    cb: (e?: Error | null) => void,
  ): void {
    for (const c of chunks) {
      this.written.push(c.chunk);
      this.writtenBytes += c.chunk.length;
    }
    cb();
  }

  override pause(): this {
    this.paused = true;
    return this;
  }

  override resume(): this {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const b of held) this.emit('data', b);
    return this;
  }

  /** The peer sends `chunk` (synchronously emitted as 'data', or held while paused). */
  deliver(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.paused) this.held.push(chunk);
    else this.emit('data', chunk);
  }

  /** The peer closes its side (FIN). */
  peerEnd(): void {
    if (!this.destroyed) this.emit('end');
  }

  /** The connection fails (e.g. ECONNRESET). */
  peerError(code = 'ECONNRESET'): void {
    if (this.destroyed) return;
    const e = Object.assign(new Error(`read ${code}`), { code });
    this.destroy(e);
  }

  /** Takes what was written so far. */
  takeWritten(): Buffer {
    const b = this.written.length === 1 ? (this.written[0] as Buffer) : Buffer.concat(this.written);
    this.written = [];
    return b;
  }
}
