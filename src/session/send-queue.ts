/**
 * The frames a session keeps before handing them to its socket: ranges of shared buffers, in order.
 * Consecutive ranges of one buffer merge, so frames fanned out from one arena cost one entry. Pure.
 */

import { frameSizeAt } from '../wire/frames.js';

export class SendQueue {
  private bufs: Buffer[] = [];
  private starts: number[] = [];
  private ends: number[] = [];
  /** Index of the first range still queued. */
  private head = 0;
  /** Bytes queued. */
  bytes = 0;

  get empty(): boolean {
    return this.head === this.bufs.length;
  }

  /** Appends `buf[start, end)` (complete frames). Returns true when the queue was empty. */
  push(buf: Buffer, start: number, end: number): boolean {
    const n = this.bufs.length;
    const wasEmpty = this.head === n;
    if (!wasEmpty && this.bufs[n - 1] === buf && this.ends[n - 1] === start) {
      this.ends[n - 1] = end;
    } else {
      this.bufs.push(buf);
      this.starts.push(start);
      this.ends.push(end);
    }
    this.bytes += end - start;
    return wasEmpty;
  }

  /**
   * Takes whole frames from the head, at most `budget` bytes (a first frame larger than the budget
   * is taken whole when `atLeastOne`), and passes each range to `out`. Returns the bytes taken.
   */
  take(budget: number, out: (buf: Buffer) => void, atLeastOne = false): number {
    let taken = 0;
    while (this.head < this.bufs.length) {
      const i = this.head;
      const buf = this.bufs[i] as Buffer;
      const start = this.starts[i] as number;
      const end = this.ends[i] as number;
      const left = budget - taken;
      if (end - start <= left) {
        out(buf.subarray(start, end));
        taken += end - start;
        this.head++;
        continue;
      }
      // Part of a range: whole frames only.
      let cut = wholeFrames(buf, start, end, left);
      if (cut === start && atLeastOne && taken === 0) cut = start + frameSizeAt(buf, start);
      if (cut > start) {
        out(buf.subarray(start, cut));
        taken += cut - start;
        this.starts[i] = cut;
      }
      break;
    }
    this.bytes -= taken;
    this.compact();
    return taken;
  }

  /** Copies everything queued into one buffer (so the shared buffers it pointed into can be freed). */
  consolidate(): void {
    if (this.bufs.length - this.head <= 1) return;
    const all = Buffer.allocUnsafe(this.bytes);
    let p = 0;
    for (let i = this.head; i < this.bufs.length; i++) {
      p += (this.bufs[i] as Buffer).copy(all, p, this.starts[i], this.ends[i]);
    }
    this.clear();
    this.push(all, 0, all.length);
  }

  clear(): void {
    this.bufs = [];
    this.starts = [];
    this.ends = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Size of the first queued frame (0 when empty). */
  firstFrameSize(): number {
    const buf = this.bufs[this.head];
    return buf === undefined ? 0 : frameSizeAt(buf, this.starts[this.head] as number);
  }

  private compact(): void {
    if (this.head === this.bufs.length) {
      if (this.head > 0) this.clear();
    } else if (this.head > 1024 && this.head * 2 > this.bufs.length) {
      this.bufs = this.bufs.slice(this.head);
      this.starts = this.starts.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.head = 0;
    }
  }
}

/** End of the longest run of whole frames of `buf[start, end)` not above `budget` bytes. */
function wholeFrames(buf: Buffer, start: number, end: number, budget: number): number {
  let pos = start;
  while (pos + 4 <= end) {
    const next = pos + frameSizeAt(buf, pos);
    if (next - start > budget || next > end) break;
    pos = next;
  }
  return pos;
}
