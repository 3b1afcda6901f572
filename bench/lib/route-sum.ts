/**
 * Order-independent checksums of route payloads and an exact view of one subscriber, for the
 * load generator's receivers.
 *
 * - RouteSum: per action, a count and two 32-bit sums (mod 2^32) of a hash of each UPDATE's
 *   route bytes (the payload after the action field, so an ADD and the REMOVE of the same route
 *   hash alike). Comparing count and sums with those of the expected set catches missing and
 *   duplicate routes without keeping a set per subscriber (two independent 32-bit lanes: a
 *   compensating error needs a collision in both).
 * - RouteView: a Map of route bytes -> present, for one subscriber: counts ADDs of a present route
 *   and REMOVEs of an absent one (a backlog may skip an ADD/REMOVE pair, never duplicate one).
 */

/** MurmurHash3 (x86, 32-bit) of buf[start, end), seed 0. */
export function routeHash(buf: Uint8Array, start: number, end: number): number {
  let h = 0;
  let p = start;
  const last4 = end - ((end - start) & 3);
  for (; p < last4; p += 4) {
    let k =
      (buf[p] ?? 0) |
      ((buf[p + 1] ?? 0) << 8) |
      ((buf[p + 2] ?? 0) << 16) |
      ((buf[p + 3] ?? 0) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = end - p;
  if (tail > 0) {
    let k = buf[p] ?? 0;
    if (tail > 1) k |= (buf[p + 1] ?? 0) << 8;
    if (tail > 2) k |= (buf[p + 2] ?? 0) << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A second, independent 32-bit lane derived from the hash (another finaliser). */
function lane2(h: number): number {
  let x = Math.imul(h ^ 0x9e3779b9, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export interface SumValue {
  readonly count: number;
  readonly sum1: number;
  readonly sum2: number;
}

/** A multiset checksum: count and two sums mod 2^32. */
export class RouteSum implements SumValue {
  count = 0;
  sum1 = 0;
  sum2 = 0;

  /** Adds the route bytes buf[start, end). */
  add(buf: Uint8Array, start: number, end: number): void {
    const h = routeHash(buf, start, end);
    this.count++;
    this.sum1 = (this.sum1 + h) >>> 0;
    this.sum2 = (this.sum2 + lane2(h)) >>> 0;
  }

  reset(): void {
    this.count = 0;
    this.sum1 = 0;
    this.sum2 = 0;
  }

  value(): SumValue {
    return { count: this.count, sum1: this.sum1, sum2: this.sum2 };
  }
}

export function sumsEqual(a: SumValue, b: SumValue): boolean {
  return a.count === b.count && a.sum1 === b.sum1 && a.sum2 === b.sum2;
}

export function sumText(s: SumValue): string {
  return `${String(s.count)}/${s.sum1.toString(16).padStart(8, '0')}${s.sum2.toString(16).padStart(8, '0')}`;
}

/**
 * Checksum of whole UPDATE frames in buf[start, end) (ADDs only expected: an ADD's payload is
 * its route bytes). Used for the expected value of a loaded table.
 */
export function framesSum(buf: Uint8Array, start: number, end: number, into: RouteSum): void {
  let p = start;
  while (p + 4 <= end) {
    const size = ((buf[p + 1] ?? 0) << 8) | (buf[p + 2] ?? 0);
    into.add(buf, p + 4, p + 4 + size);
    p += 4 + size;
  }
}

export interface ViewReport {
  /** Routes present at the time of the report. */
  readonly size: number;
  readonly adds: number;
  readonly removes: number;
  /** ADDs of a route already present (a duplicate). */
  readonly addPresent: number;
  /** REMOVEs of a route not present. */
  readonly removeAbsent: number;
  /** A few offending route payloads, hex. */
  readonly samples: readonly string[];
}

/** The exact view of one subscriber. */
export class RouteView {
  private readonly present = new Set<string>();
  adds = 0;
  removes = 0;
  addPresent = 0;
  removeAbsent = 0;
  private readonly samples: string[] = [];

  apply(buf: Buffer, start: number, end: number, remove: boolean): void {
    const key = buf.toString('latin1', start, end);
    if (remove) {
      this.removes++;
      if (!this.present.delete(key)) {
        this.removeAbsent++;
        this.sample('REMOVE of an absent route', key);
      }
    } else {
      this.adds++;
      if (this.present.has(key)) {
        this.addPresent++;
        this.sample('ADD of a present route', key);
      } else this.present.add(key);
    }
  }

  get size(): number {
    return this.present.size;
  }

  report(): ViewReport {
    return {
      size: this.present.size,
      adds: this.adds,
      removes: this.removes,
      addPresent: this.addPresent,
      removeAbsent: this.removeAbsent,
      samples: [...this.samples],
    };
  }

  private sample(what: string, key: string): void {
    if (this.samples.length < 5) {
      this.samples.push(`${what}: ${Buffer.from(key, 'latin1').toString('hex')}`);
    }
  }
}
