/** Reading frame headers in buffers of complete frames. Pure. */

import { HEADER_LENGTH_OFFSET, HEADER_SIZE } from './messages.js';

/** Size of the complete frame whose header starts at `buf[pos]`. */
export function frameSizeAt(buf: Uint8Array, pos: number): number {
  return (
    HEADER_SIZE +
    (((buf[pos + HEADER_LENGTH_OFFSET] ?? 0) << 8) | (buf[pos + HEADER_LENGTH_OFFSET + 1] ?? 0))
  );
}
