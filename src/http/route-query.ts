/**
 * Filtered, paged route queries for the status page (/api/routes): the browser never downloads
 * the table, it asks for one page of what matches. The scan walks the source lazily in slices;
 * counting the matches past the requested page stops at a budget, after which the total is a lower
 * bound (`complete: false`).
 */

import { ParseError } from '../errors.js';
import { parseIP } from '../model/ip.js';
import { parseVni, type Route } from '../model/route.js';
import type { Slicer } from './slicer.js';
import type { RouteRow, StatusSource } from './sources.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
/** Routes scanned past the requested page to count matches. */
export const DEFAULT_COUNT_BUDGET = 200_000;

export interface RouteFilter {
  readonly vni?: number;
  /** CIDR: destinations inside it; other text: destinations whose text starts with it. */
  readonly prefix?: string;
  /** Next hops whose address starts with this text. */
  readonly nexthop?: string;
}

export interface RouteQuery extends RouteFilter {
  readonly offset: number;
  readonly limit: number;
}

/** A route as the page gets it. */
export interface RouteJson {
  readonly vni: number;
  readonly prefix: string;
  readonly family: 4 | 6;
  readonly nextHop: string;
  readonly type: string;
  readonly natPortRangeFrom: number;
  readonly natPortRangeTo: number;
  readonly targetVni: number;
  readonly owners?: readonly string[];
  readonly servers?: readonly string[];
  readonly staleFor?: readonly string[];
}

export interface RouteQueryResult {
  readonly offset: number;
  readonly limit: number;
  readonly rows: readonly RouteJson[];
  /** Matching routes counted (all of them when `complete`). */
  readonly matched: number;
  readonly complete: boolean;
  readonly scanned: number;
}

function intParam(
  params: URLSearchParams,
  name: string,
  dflt: number,
  min: number,
  max: number,
): number {
  const v = params.get(name);
  if (v === null || v === '') return dflt;
  if (!/^[0-9]{1,9}$/.test(v)) throw new ParseError(`${name} must be a whole number, got '${v}'`);
  return Math.min(max, Math.max(min, Number(v)));
}

/** Reads `vni`, `prefix`, `nexthop`, `offset`, `limit` from a query string. */
export function parseRouteQuery(params: URLSearchParams): RouteQuery {
  const vniText = params.get('vni')?.trim() ?? '';
  const prefix = params.get('prefix')?.trim() ?? '';
  const nexthop = params.get('nexthop')?.trim() ?? '';
  return {
    ...(vniText !== '' && { vni: parseVni(vniText) }),
    ...(prefix !== '' && { prefix }),
    ...(nexthop !== '' && { nexthop }),
    offset: intParam(params, 'offset', 0, 0, 1e9),
    limit: intParam(params, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT),
  };
}

interface Cidr {
  readonly bytes: Uint8Array;
  readonly length: number;
  /** IPv4 address as a number. */
  readonly v4: number;
}

function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const bytes = parseIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (bytes === undefined || !/^[0-9]{1,3}$/.test(lenText)) return undefined;
  const length = Number(lenText);
  if (length > bytes.length * 8) return undefined;
  const v4 =
    bytes.length === 4
      ? ((bytes[0] ?? 0) * 256 + (bytes[1] ?? 0)) * 65536 + (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)
      : 0;
  return { bytes, length, v4 };
}

/** The 4 bytes of canonical dotted-quad text as one number (no allocation). */
function ipv4Number(text: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return n * 256 + part;
}

function inside(c: Cidr, r: Route): boolean {
  const d = r.destination;
  if ((d.family === 4 ? 4 : 16) !== c.bytes.length || d.prefixLength < c.length) return false;
  if (d.family === 4) {
    if (c.length === 0) return true;
    const shift = 2 ** (32 - c.length);
    return Math.floor(ipv4Number(d.address) / shift) === Math.floor(c.v4 / shift);
  }
  const b = parseIP(d.address);
  if (b === undefined) return false;
  const full = c.length >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== c.bytes[i]) return false;
  const rest = c.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((b[full] ?? 0) & mask) === ((c.bytes[full] ?? 0) & mask);
}

/** A predicate for the filter's prefix and next-hop parts (the VNI selects what is walked). */
export function routeMatcher(f: RouteFilter): ((r: Route) => boolean) | undefined {
  const tests: ((r: Route) => boolean)[] = [];
  if (f.prefix !== undefined) {
    const cidr = parseCidr(f.prefix);
    if (cidr !== undefined) {
      tests.push((r) => inside(cidr, r));
    } else {
      const p = f.prefix.toLowerCase();
      tests.push((r) =>
        `${r.destination.address}/${String(r.destination.prefixLength)}`.startsWith(p),
      );
    }
  }
  if (f.nexthop !== undefined) {
    const h = f.nexthop.toLowerCase();
    tests.push((r) => r.nextHop.address.startsWith(h));
  }
  if (tests.length === 0) return undefined;
  return (r) => tests.every((t) => t(r));
}

export function routeJson(r: RouteRow): RouteJson {
  const d = r.route.destination;
  const h = r.route.nextHop;
  return {
    vni: r.vni,
    prefix: `${d.address}/${String(d.prefixLength)}`,
    family: d.family,
    nextHop: h.address,
    type: h.type,
    natPortRangeFrom: h.natPortRangeFrom,
    natPortRangeTo: h.natPortRangeTo,
    targetVni: h.targetVni,
    ...(r.owners !== undefined && { owners: r.owners }),
    ...(r.servers !== undefined && { servers: r.servers }),
    ...(r.staleFor !== undefined && r.staleFor.length > 0 && { staleFor: r.staleFor }),
  };
}

function compareRows(a: RouteJson, b: RouteJson): number {
  if (a.vni !== b.vni) return a.vni - b.vni;
  if (a.prefix !== b.prefix) return a.prefix < b.prefix ? -1 : 1;
  return a.nextHop < b.nextHop ? -1 : a.nextHop > b.nextHop ? 1 : 0;
}

/**
 * Runs a query: VNIs ascending, each VNI's routes in table order; the rows of the page are sorted
 * by (vni, prefix, next hop) so that the hops of a destination stand together.
 */
export async function queryRoutes(
  source: Pick<StatusSource, 'vnis' | 'routes' | 'routeCount' | 'vniRouteCount'>,
  q: RouteQuery,
  slicer: Slicer,
  countBudget = DEFAULT_COUNT_BUDGET,
  cache?: RowCache,
): Promise<RouteQueryResult> {
  const match = routeMatcher(q);
  const vnis = q.vni !== undefined ? [q.vni] : source.vnis();
  const end = q.offset + q.limit;
  const page: RouteJson[] = [];
  let matched = 0;
  let scanned = 0;
  let complete = true;
  // Without a prefix/next-hop filter the counts come from the source when it keeps them.
  const counted = match === undefined && source.vniRouteCount !== undefined;
  let total = 0;
  if (counted) {
    for (const v of vnis) total += source.vniRouteCount?.(v) ?? 0;
  }
  // Once the page is full, matches are counted for at most `countBudget` more routes.
  let pageDoneAt = -1;
  scan: for (const vni of vnis) {
    if (counted) {
      const n = source.vniRouteCount?.(vni) ?? 0;
      if (matched + n <= q.offset) {
        matched += n;
        continue;
      }
    }
    // A filter scans the whole VNI: from the cache (read once, kept while the VNI is unchanged).
    // Without one only the page's rows are read: from the cache when it is current, else straight
    // from the table (reading a whole VNI that changes all the time would be wasted).
    const rows =
      cache === undefined
        ? source.routes(vni)
        : match !== undefined
          ? await cache.rows(vni, slicer)
          : (cache.current(vni) ?? source.routes(vni));
    for (const r of rows) {
      scanned++;
      if ((scanned & 15) === 0) await slicer.maybeYield();
      if (pageDoneAt >= 0 && scanned - pageDoneAt > countBudget) {
        complete = false;
        break scan;
      }
      if (match !== undefined && !match(r.route)) continue;
      if (matched >= q.offset && matched < end) page.push(routeJson(r));
      matched++;
      if (matched === end) {
        if (counted) break scan;
        pageDoneAt = scanned;
      }
    }
  }
  slicer.finish();
  page.sort(compareRows);
  return {
    offset: q.offset,
    limit: q.limit,
    rows: page,
    matched: counted ? total : matched,
    complete,
    scanned,
  };
}

/**
 * The rows of recently queried VNIs, kept while the VNI does not change (its version from the
 * source's per-VNI counters, or the global change counter when those are absent), so that typing
 * in the page's filter re-scans memory instead of re-reading the table. Bounded: VNIs are only
 * kept while the cache holds at most `maxRows` rows; larger tables are walked each time.
 */
export class RowCache {
  private readonly entries = new Map<number, { version: number; rows: RouteRow[] }>();
  private held = 0;
  /** The version of each VNI at the previous warm() call. */
  private readonly seen = new Map<number, number>();
  /** Reads under way, per VNI. */
  private readonly reading = new Map<number, { version: number; rows: Promise<RouteRow[]> }>();

  constructor(
    private readonly source: Pick<StatusSource, 'routes' | 'changes' | 'vniRouteCount'>,
    readonly maxRows = 250_000,
  ) {}

  private version(vni: number): number {
    const c = this.source.changes();
    return c.perVni !== undefined ? (c.perVni.get(vni) ?? 0) : c.total;
  }

  /**
   * Reads the given VNIs into the cache ahead of a filter (the page's first keystroke would
   * otherwise pay for walking the table), but only VNIs that did not change since the previous
   * call: a VNI that changes all the time would be read again and again for nothing (its rows are
   * stale by the next query). Stops once the cache is full.
   */
  async warm(vnis: Iterable<number>, slicer: Slicer): Promise<void> {
    for (const vni of vnis) {
      const version = this.version(vni);
      const seen = this.seen.get(vni);
      this.seen.set(vni, version);
      if (seen !== version || this.entries.get(vni)?.version === version) continue;
      const known = this.source.vniRouteCount?.(vni) ?? 0;
      if (this.held + known > this.maxRows) return;
      await this.rows(vni, slicer);
    }
  }

  /** The cached rows of `vni` if they are current, without reading anything. */
  current(vni: number): readonly RouteRow[] | undefined {
    const hit = this.entries.get(vni);
    return hit?.version === this.version(vni) ? hit.rows : undefined;
  }

  async rows(vni: number, slicer: Slicer): Promise<Iterable<RouteRow>> {
    const version = this.version(vni);
    const hit = this.entries.get(vni);
    if (hit?.version === version) return hit.rows;
    if (hit !== undefined) {
      this.entries.delete(vni);
      this.held -= hit.rows.length;
    }
    const known = this.source.vniRouteCount?.(vni);
    if (known !== undefined && known > this.maxRows) return this.source.routes(vni);
    // A read of this VNI already under way (the warm-up, another query) is waited for, not repeated.
    const pending = this.reading.get(vni);
    if (pending?.version === version) return pending.rows;
    const rows = this.read(vni, version, slicer);
    this.reading.set(vni, { version, rows });
    try {
      return await rows;
    } finally {
      if (this.reading.get(vni)?.rows === rows) this.reading.delete(vni);
    }
  }

  private async read(vni: number, version: number, slicer: Slicer): Promise<RouteRow[]> {
    const rows: RouteRow[] = [];
    for (const r of this.source.routes(vni)) {
      rows.push(r);
      if ((rows.length & 15) === 0) await slicer.maybeYield();
    }
    // Make room, oldest first; a VNI larger than the whole cache is not kept.
    for (const [v, e] of this.entries) {
      if (this.held + rows.length <= this.maxRows) break;
      this.entries.delete(v);
      this.held -= e.rows.length;
    }
    if (this.held + rows.length <= this.maxRows && this.version(vni) === version) {
      this.entries.set(vni, { version, rows });
      this.held += rows.length;
    }
    return rows;
  }
}
