/**
 * Streaming frame decoder: reassembles frames from any split or coalescing of the TCP stream.
 * Knows nothing of sockets. The header is checked as soon as its 4 bytes are in, so a bad stream is
 * refused without waiting for a payload that may never come.
 */

import { ProtocolError } from '../errors.js';
import { HEADER_SIZE, MAX_PAYLOAD_SIZE, PROTOCOL_VERSION, isCoreMessageType } from './messages.js';

/**
 * Called once per complete frame. `buf[start, end)` is the payload; it is only valid during the
 * call (it may be a view into the caller's chunk).
 */
export type FrameHandler = (type: number, buf: Buffer, start: number, end: number) => void;

export class FrameDecoder {
  private pending: Buffer | undefined;
  private failed: ProtocolError | undefined;
  /** Extension message types accepted besides the five core ones (see allowType). */
  private readonly extraTypes = new Set<number>();

  /** Accepts frames of extension message `type` from now on (negotiated by the session). */
  allowType(type: number): void {
    this.extraTypes.add(type);
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /**
   * Feeds a chunk; calls `onFrame` for each complete frame in order. Throws ProtocolError on a bad
   * header (and for every later call: a broken stream stays broken). An exception thrown by
   * `onFrame` propagates; frames after it in the chunk are kept for the next call.
   */
  feed(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.failed !== undefined) throw this.failed;
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    const len = buf.length;
    try {
      while (len - pos >= HEADER_SIZE) {
        const version = buf[pos] ?? 0;
        const size = ((buf[pos + 1] ?? 0) << 8) | (buf[pos + 2] ?? 0);
        const type = buf[pos + 3] ?? 0;
        if (version !== PROTOCOL_VERSION) {
          throw this.fail(`unsupported protocol version ${String(version)}`);
        }
        if (!isCoreMessageType(type) && !this.extraTypes.has(type)) {
          throw this.fail(`unknown message type ${String(type)}`);
        }
        if (size > MAX_PAYLOAD_SIZE) {
          throw this.fail(
            `payload length ${String(size)} above maximum of ${String(MAX_PAYLOAD_SIZE)}`,
          );
        }
        const end = pos + HEADER_SIZE + size;
        if (end > len) break;
        const start = pos + HEADER_SIZE;
        pos = end;
        onFrame(type, buf, start, end);
      }
    } finally {
      // After a handler exception the unread frames are kept; after a bad header nothing is.
      if (pos < len && !this.isFailed()) {
        // Copy the tail so the caller's chunk can be reused or freed.
        this.pending = Buffer.from(buf.subarray(pos));
      }
    }
  }

  private isFailed(): boolean {
    return this.failed !== undefined;
  }

  private fail(reason: string): ProtocolError {
    this.failed = new ProtocolError(reason);
    return this.failed;
  }
}
