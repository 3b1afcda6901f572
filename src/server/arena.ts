/**
 * Frames produced for fan-out are written once into a shared arena; every recipient queues a range
 * of it (consecutive frames to the same recipients merge into one range). Arenas are never reused:
 * a full one is replaced and freed by the GC when the last write referencing it is done.
 */

import { updateFrameSize, writeUpdateFrame } from '../wire/route-key.js';

const ARENA_SIZE = 1 << 20;

export class FrameArena {
  buf: Buffer = Buffer.allocUnsafeSlow(ARENA_SIZE);
  pos = 0;

  /** Copies complete frames `src[start, end)` and returns where they start; they end at `this.pos`. */
  copy(src: Buffer, start: number, end: number): number {
    const size = end - start;
    if (this.pos + size > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(ARENA_SIZE, size));
      this.pos = 0;
    }
    const at = this.pos;
    src.copy(this.buf, at, start, end);
    this.pos = at + size;
    return at;
  }

  /** Whether `size` more bytes fit in the current buffer (else the next write starts a new one). */
  fits(size: number): boolean {
    return this.pos + size <= this.buf.length;
  }

  /** Writes the UPDATE frame for `key` and returns its start; the frame ends at `this.pos`. */
  writeUpdate(key: string, remove: boolean): number {
    const size = updateFrameSize(key, remove);
    if (this.pos + size > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(ARENA_SIZE);
      this.pos = 0;
    }
    const start = this.pos;
    this.pos = writeUpdateFrame(this.buf, start, key, remove);
    return start;
  }
}
