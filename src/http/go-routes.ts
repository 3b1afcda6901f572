/**
 * /routes.json and /routes.yaml in exactly Go MetalBond's shapes (its http.go), so scripts
 * written for Go's endpoints keep working:
 *
 *   { "date": "2006-01-02 15:04:05", "vnet": { "<vni>": { "<destination JSON>": [ hops ] } },
 *     "metalbondVersion": "..." }
 *
 * - JSON: json.MarshalIndent with two spaces, no trailing newline; VNI keys sorted as strings
 *   ("100" before "23"), destination keys are the JSON text of {IPVersion, Prefix} sorted as
 *   strings; hops sorted by Go's NextHop.String() (address, plus " (VNI: n)").
 * - YAML: yaml.v2; lowercased field names, VNI keys as integers sorted numerically, destination
 *   keys single-quoted. Go's yaml.v2 cannot order struct map keys, so Go's destination order is
 *   random from one request to the next; tsbond writes them in the JSON order.
 *
 * Produced VNI by VNI in slices: a VNI's routes are collected into flat buffers (VniCollector),
 * sorted with a sliced merge sort and written in chunks, so a million routes never hold the event
 * loop.
 */

import type { NextHopType } from '../model/route.js';
import { goJsonString, goLocalDate, yamlString } from './go-text.js';
import { slicedSortIndexes, type ChunkWriter, type Slicer } from './slicer.js';
import type { RouteRow, StatusSource } from './sources.js';

export type GoRoutesFormat = 'json' | 'yaml';

const TYPE_NUMBER: Record<NextHopType, number> = {
  STANDARD: 0,
  NAT: 1,
  LOADBALANCER_TARGET: 2,
};

/** Go's text of a Destination map key: `{"IPVersion":4,"Prefix":"10.0.1.0/24"}`. */
export function goDestinationKey(r: RouteRow): string {
  const d = r.route.destination;
  return `{"IPVersion":${String(d.family)},"Prefix":"${d.address}/${String(d.prefixLength)}"}`;
}

/** Go's NextHop.String(): the address, plus ` (VNI: n)` when a target VNI is set. */
export function goNextHopString(r: RouteRow): string {
  const h = r.route.nextHop;
  return h.targetVni !== 0 ? `${h.address} (VNI: ${String(h.targetVni)})` : h.address;
}

/** A distinct next hop, with what Go prints for it. */
interface Hop {
  readonly address: string;
  readonly targetVni: number;
  readonly type: number;
  readonly from: number;
  readonly to: number;
  /** Go's NextHop.String(), the sort key. */
  readonly text: string;
}

/**
 * The routes of one VNI, collected for sorting in typed arrays and one byte arena rather than an
 * object or string per route: a million collected routes are then a few flat buffers that the
 * garbage collector never copies or walks, which keeps its pauses short.
 * Per route: the destination text `<IPVersion><address>/<length>` (e.g. `410.0.1.0/24`) in the
 * arena, and the index of its next hop in a table of distinct hops (usually few).
 */
class VniCollector {
  private arena = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  private off = new Uint32Array(1024);
  private len = new Uint8Array(1024);
  private hop = new Uint32Array(1024);
  private readonly hopIndex = new Map<string, number>();
  readonly hops: Hop[] = [];
  count = 0;

  add(r: RouteRow): void {
    const d = r.route.destination;
    const h = r.route.nextHop;
    const dest = `${String(d.family)}${d.address}/${String(d.prefixLength)}`;
    const hopKey = `${h.address}|${String(h.targetVni)}|${h.type}|${String(h.natPortRangeFrom)}|${String(h.natPortRangeTo)}`;
    let hi = this.hopIndex.get(hopKey);
    if (hi === undefined) {
      hi = this.hops.length;
      this.hops.push({
        address: h.address,
        targetVni: h.targetVni,
        type: TYPE_NUMBER[h.type],
        from: h.natPortRangeFrom,
        to: h.natPortRangeTo,
        text: goNextHopString(r),
      });
      this.hopIndex.set(hopKey, hi);
    }
    if (this.count === this.off.length) this.growIndex();
    if (this.used + dest.length > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.used + dest.length));
      this.arena.copy(bigger, 0, 0, this.used);
      this.arena = bigger;
    }
    const n = this.count++;
    this.off[n] = this.used;
    this.len[n] = dest.length;
    this.hop[n] = hi;
    this.used += this.arena.write(dest, this.used, 'latin1');
  }

  private growIndex(): void {
    const size = this.off.length * 2;
    const off = new Uint32Array(size);
    off.set(this.off);
    this.off = off;
    const len = new Uint8Array(size);
    len.set(this.len);
    this.len = len;
    const hop = new Uint32Array(size);
    hop.set(this.hop);
    this.hop = hop;
  }

  /** Route indexes in Go's order: destination key text, then NextHop.String(). */
  async order(slicer: Slicer): Promise<Uint32Array> {
    // Rank the distinct hops once; routes then compare hops by rank.
    const byText = this.hops
      .map((h, i) => ({ h, i }))
      .sort(
        (a, b) =>
          compareStrings(a.h.text, b.h.text) ||
          a.h.type - b.h.type ||
          a.h.from - b.h.from ||
          a.h.to - b.h.to,
      );
    const rank = new Uint32Array(this.hops.length);
    byText.forEach((x, r) => {
      rank[x.i] = r;
    });
    const { arena, off, len, hop } = this;
    // The key texts share `{"IPVersion":` and differ from the IPVersion digit on; where one
    // destination text is a prefix of the other, the key's closing `"` (below every character of
    // an address) puts the shorter first: plain byte order of the stored texts.
    const compare = (a: number, b: number): number => {
      const ao = off[a] as number;
      const bo = off[b] as number;
      const al = len[a] as number;
      const bl = len[b] as number;
      const n = al < bl ? al : bl;
      for (let i = 0; i < n; i++) {
        const d = (arena[ao + i] as number) - (arena[bo + i] as number);
        if (d !== 0) return d;
      }
      if (al !== bl) return al - bl;
      return (rank[hop[a] as number] as number) - (rank[hop[b] as number] as number);
    };
    const idx = new Uint32Array(this.count);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    return slicedSortIndexes(idx, compare, slicer);
  }

  destKey(i: number): string {
    const o = this.off[i] as number;
    const text = this.arena.toString('latin1', o + 1, o + (this.len[i] as number));
    return `{"IPVersion":${String.fromCharCode(this.arena[o] as number)},"Prefix":"${text}"}`;
  }

  /** Whether routes i and j have the same destination. */
  sameDest(i: number, j: number): boolean {
    const l = this.len[i] as number;
    if (l !== this.len[j]) return false;
    const a = this.off[i] as number;
    const b = this.off[j] as number;
    for (let k = 0; k < l; k++) if (this.arena[a + k] !== this.arena[b + k]) return false;
    return true;
  }

  hopOf(i: number): Hop {
    return this.hops[this.hop[i] as number] as Hop;
  }
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function jsonHop(h: Hop): string {
  return (
    `        {\n` +
    `          "TargetAddress": ${goJsonString(h.address)},\n` +
    `          "TargetVNI": ${String(h.targetVni)},\n` +
    `          "Type": ${String(h.type)},\n` +
    `          "NATPortRangeFrom": ${String(h.from)},\n` +
    `          "NATPortRangeTo": ${String(h.to)}\n` +
    `        }`
  );
}

function yamlHop(h: Hop): string {
  return (
    `    - targetaddress: ${yamlString(h.address)}\n` +
    `      targetvni: ${String(h.targetVni)}\n` +
    `      type: ${String(h.type)}\n` +
    `      natportrangefrom: ${String(h.from)}\n` +
    `      natportrangeto: ${String(h.to)}\n`
  );
}

/** The order in which each format lists VNIs. */
export function goVniOrder(vnis: readonly number[], format: GoRoutesFormat): number[] {
  return format === 'json'
    ? vnis.map(String).sort(compareStrings).map(Number)
    : [...vnis].sort((a, b) => a - b);
}

export interface GoRoutesOptions {
  readonly format: GoRoutesFormat;
  /** `metalbondVersion`. */
  readonly version: string;
  readonly now: Date;
}

/** Writes the whole document to `w`; returns the number of routes written. */
export async function writeGoRoutes(
  source: Pick<StatusSource, 'vnis' | 'routes'>,
  w: ChunkWriter,
  slicer: Slicer,
  o: GoRoutesOptions,
): Promise<number> {
  const json = o.format === 'json';
  const date = goLocalDate(o.now);
  w.write(
    json ? `{\n  "date": ${goJsonString(date)},\n  "vnet": {` : `date: ${yamlString(date)}\n`,
  );
  let written = 0;
  let vnisWritten = 0;
  for (const vni of goVniOrder(source.vnis(), o.format)) {
    const c = new VniCollector();
    for (const r of source.routes(vni)) {
      c.add(r);
      if ((c.count & 15) === 0) await slicer.maybeYield();
    }
    if (c.count === 0) continue;
    const order = await c.order(slicer);
    if (json) w.write(`${vnisWritten === 0 ? '' : ','}\n    ${goJsonString(String(vni))}: {`);
    else w.write(`${vnisWritten === 0 ? 'vnet:\n' : ''}  ${String(vni)}:\n`);
    vnisWritten++;
    let prev = -1;
    for (const i of order) {
      if (prev === -1 || !c.sameDest(prev, i)) {
        const key = c.destKey(i);
        if (json) w.write(`${prev === -1 ? '' : '\n      ],'}\n      ${goJsonString(key)}: [\n`);
        else w.write(`    ${yamlString(key)}:\n`);
      } else if (json) {
        w.write(',\n');
      }
      prev = i;
      const h = c.hopOf(i);
      w.write(json ? jsonHop(h) : yamlHop(h));
      written++;
      await w.step();
    }
    if (json) w.write('\n      ]\n    }');
  }
  if (json) {
    w.write(
      `${vnisWritten === 0 ? '},' : '\n  },'}\n  "metalbondVersion": ${goJsonString(o.version)}\n}`,
    );
  } else {
    w.write(`${vnisWritten === 0 ? 'vnet: {}\n' : ''}metalbondversion: ${yamlString(o.version)}\n`);
  }
  await w.flush();
  slicer.finish();
  return written;
}
