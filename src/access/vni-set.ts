/** Sets of VNIs as sorted, disjoint, non-adjacent inclusive ranges. Pure. */

import { ParseError } from '../errors.js';

const VNI_MAX = 0xffffffff;

export class VniSet {
  /** Sorted, disjoint, non-adjacent [from, to] ranges. */
  readonly ranges: readonly (readonly [number, number])[];

  private constructor(ranges: readonly (readonly [number, number])[]) {
    this.ranges = ranges;
  }

  static readonly EMPTY = new VniSet([]);
  static readonly ALL = new VniSet([[0, VNI_MAX]]);

  /** The union of the given ranges (any order, overlaps allowed). */
  static of(ranges: Iterable<readonly [number, number]>): VniSet {
    const sorted = [...ranges]
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number])
      .sort((x, y) => x[0] - y[0]);
    const out: [number, number][] = [];
    for (const r of sorted) {
      const last = out[out.length - 1];
      if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else out.push([r[0], r[1]]);
    }
    return new VniSet(out);
  }

  union(other: VniSet): VniSet {
    if (other.ranges.length === 0) return this;
    if (this.ranges.length === 0) return other;
    return VniSet.of([...this.ranges, ...other.ranges]);
  }

  has(vni: number): boolean {
    // Binary search over the ranges.
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid] as readonly [number, number];
      if (vni < r[0]) hi = mid - 1;
      else if (vni > r[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  get isAll(): boolean {
    const r = this.ranges[0];
    return this.ranges.length === 1 && r?.[0] === 0 && r[1] === VNI_MAX;
  }

  /** `100,200-299` (or `all`, or `none`). */
  toString(): string {
    if (this.isAll) return 'all';
    if (this.isEmpty) return 'none';
    return this.ranges
      .map(([a, b]) => (a === b ? String(a) : `${String(a)}-${String(b)}`))
      .join(',');
  }
}

function parseVniNumber(text: string, what: string): number {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(text) || Number(text) > VNI_MAX) {
    throw new ParseError(`${what}: '${text}' is not a VNI (0..4294967295)`);
  }
  return Number(text);
}

/**
 * One item of a VNI list: a number, `FROM-TO`, or `all` / `*`. `what` prefixes error messages.
 */
export function parseVniItem(item: unknown, what: string): [number, number] {
  if (typeof item === 'number') {
    if (!Number.isInteger(item) || item < 0 || item > VNI_MAX)
      throw new ParseError(`${what}: ${String(item)} is not a VNI (0..4294967295)`);
    return [item, item];
  }
  if (typeof item !== 'string') {
    throw new ParseError(`${what}: expected a VNI, a range FROM-TO or 'all', got ${typeof item}`);
  }
  const t = item.trim();
  if (t === 'all' || t === '*') return [0, VNI_MAX];
  const dash = t.indexOf('-');
  if (dash === -1) {
    const v = parseVniNumber(t, what);
    return [v, v];
  }
  const from = parseVniNumber(t.slice(0, dash).trim(), what);
  const to = parseVniNumber(t.slice(dash + 1).trim(), what);
  if (from > to) throw new ParseError(`${what}: range '${t}' has FROM above TO`);
  return [from, to];
}

/** A VNI list as written: a single item or an array of items; `none` or [] is the empty set. */
export function parseVniList(value: unknown, what: string): VniSet {
  if (value === 'none' || value === null) return VniSet.EMPTY;
  const items: unknown[] = Array.isArray(value) ? value : [value];
  return VniSet.of(items.map((x, i) => parseVniItem(x, `${what} item ${String(i + 1)}`)));
}
