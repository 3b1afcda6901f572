/**
 * A first-in first-out queue kept in fixed-size chunks, pure. A Set used as a queue rehashes all
 * its entries at once when it grows or shrinks (tens of milliseconds at a million routes, in one
 * event-loop turn) and walks the holes its deletions leave at the front on every new iteration;
 * here no step touches more than one chunk.
 */

const CHUNK = 1024;

interface Chunk<T> {
  readonly items: (T | undefined)[];
  next: Chunk<T> | undefined;
}

export class Fifo<T> {
  private first: Chunk<T> = { items: new Array<T | undefined>(CHUNK), next: undefined };
  private last = this.first;
  /** Next index to read in `first`, next index to write in `last`. */
  private head = 0;
  private tail = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(v: T): void {
    if (this.tail === CHUNK) {
      const c: Chunk<T> = { items: new Array<T | undefined>(CHUNK), next: undefined };
      this.last.next = c;
      this.last = c;
      this.tail = 0;
    }
    this.last.items[this.tail++] = v;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    if (this.head === CHUNK) {
      const next = this.first.next;
      if (next === undefined) return undefined; // unreachable: count > 0
      this.first = next;
      this.head = 0;
    }
    const v = this.first.items[this.head];
    this.first.items[this.head++] = undefined;
    if (--this.count === 0) {
      // Empty: start over in the chunk at hand (the others are garbage).
      this.first.next = undefined;
      this.last = this.first;
      this.head = 0;
      this.tail = 0;
    }
    return v;
  }

  /** The entries, oldest first (the queue must not change meanwhile). */
  *[Symbol.iterator](): IterableIterator<T> {
    let c: Chunk<T> | undefined = this.first;
    let i = this.head;
    for (let n = 0; n < this.count; n++) {
      if (i === CHUNK) {
        c = c?.next;
        i = 0;
      }
      const v = c?.items[i++];
      if (v !== undefined) yield v;
    }
  }
}
