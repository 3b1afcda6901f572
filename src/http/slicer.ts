/**
 * Cooperative time slicing: long work (walking a million routes, sorting them, writing a large
 * response) runs in slices of at most `budgetMs` of synchronous work, each followed by a turn of
 * the event loop, so sessions and keepalives are never held up for long.
 */

import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';

export const DEFAULT_SLICE_MS = 4;

/** Raised when the consumer went away (the HTTP client closed the connection). */
export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortedError';
  }
}

const nextTurn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

export class Slicer {
  private sliceStart = performance.now();
  /** Longest slice so far, ms (for tests and logs). */
  maxSliceMs = 0;
  slices = 0;
  aborted = false;

  constructor(readonly budgetMs: number = DEFAULT_SLICE_MS) {}

  /** True when the current slice has used its budget. Cheap enough to call per item. */
  due(): boolean {
    return performance.now() - this.sliceStart >= this.budgetMs;
  }

  /** Ends the current slice: lets the event loop run, then starts a new one. */
  async yield(): Promise<void> {
    const took = performance.now() - this.sliceStart;
    if (took > this.maxSliceMs) this.maxSliceMs = took;
    this.slices++;
    await nextTurn();
    if (this.aborted) throw new AbortedError();
    this.sliceStart = performance.now();
  }

  /** Yields if the slice is used up. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.yield();
  }

  /** Records the last slice (call when done). */
  finish(): void {
    const took = performance.now() - this.sliceStart;
    if (took > this.maxSliceMs) this.maxSliceMs = took;
  }
}

/**
 * Sorts `items` with `compare` in slices: runs of `run` items are sorted with Array.sort (a few
 * ms each), then merged pairwise, yielding whenever the slice budget is spent. Stable.
 */
export async function slicedSort<T>(
  items: T[],
  compare: (a: T, b: T) => number,
  slicer: Slicer,
  run = 2048,
): Promise<T[]> {
  const n = items.length;
  for (let i = 0; i < n; i += run) {
    const part = items.slice(i, i + run).sort(compare);
    for (let j = 0; j < part.length; j++) items[i + j] = part[j] as T;
    await slicer.maybeYield();
  }
  let src = items;
  let dst = new Array<T>(n);
  for (let width = run; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let a = lo;
      let b = mid;
      let k = lo;
      while (a < mid && b < hi) {
        // Check the clock every 1024 items: one merge step is a few ns.
        if ((k & 63) === 0) await slicer.maybeYield();
        const x = src[a] as T;
        const y = src[b] as T;
        if (compare(y, x) < 0) {
          dst[k++] = y;
          b++;
        } else {
          dst[k++] = x;
          a++;
        }
      }
      while (a < mid) dst[k++] = src[a++] as T;
      while (b < hi) dst[k++] = src[b++] as T;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/**
 * Buffers text and writes it to `out` in chunks of about `chunkBytes`, waiting for 'drain' when
 * the socket is full. Throws AbortedError once `out` is closed or destroyed.
 */
export class ChunkWriter {
  private parts: string[] = [];
  private size = 0;
  private closed = false;
  bytes = 0;

  constructor(
    private readonly out: Writable,
    private readonly slicer: Slicer,
    private readonly chunkBytes = 64 * 1024,
  ) {
    out.once('close', () => {
      this.closed = true;
      slicer.aborted = true;
    });
  }

  private gone(): boolean {
    return this.closed || this.out.destroyed;
  }

  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
  }

  /** Flushes when a chunk is full, and yields when the slice is used up. */
  async step(): Promise<void> {
    if (this.size >= this.chunkBytes) await this.flush();
    else await this.slicer.maybeYield();
  }

  async flush(): Promise<void> {
    if (this.gone()) throw new AbortedError();
    if (this.size === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.bytes += text.length;
    if (!this.out.write(text)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.out.off('drain', done);
          this.out.off('close', done);
          resolve();
        };
        this.out.on('drain', done);
        this.out.on('close', done);
      });
      if (this.gone()) throw new AbortedError();
    }
    await this.slicer.maybeYield();
  }
}

/** slicedSort for an index array (a Uint32Array, no object per item). Stable. */
export async function slicedSortIndexes(
  items: Uint32Array,
  compare: (a: number, b: number) => number,
  slicer: Slicer,
  run = 1024,
): Promise<Uint32Array> {
  const n = items.length;
  // Runs sorted by insertion sort: stable, and a few hundred microseconds each.
  for (let lo = 0; lo < n; lo += run) {
    const hi = Math.min(lo + run, n);
    for (let i = lo + 1; i < hi; i++) {
      const x = items[i] as number;
      let j = i - 1;
      while (j >= lo && compare(items[j] as number, x) > 0) {
        items[j + 1] = items[j] as number;
        j--;
      }
      items[j + 1] = x;
      if ((i & 7) === 0) await slicer.maybeYield();
    }
    await slicer.maybeYield();
  }
  let src: Uint32Array = items;
  let dst: Uint32Array = new Uint32Array(n);
  for (let width = run; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let a = lo;
      let b = mid;
      let k = lo;
      while (a < mid && b < hi) {
        if ((k & 63) === 0) await slicer.maybeYield();
        const x = src[a] as number;
        const y = src[b] as number;
        if (compare(y, x) < 0) {
          dst[k++] = y;
          b++;
        } else {
          dst[k++] = x;
          a++;
        }
      }
      while (a < mid) dst[k++] = src[a++] as number;
      while (b < hi) dst[k++] = src[b++] as number;
    }
    [src, dst] = [dst, src];
  }
  return src;
}
