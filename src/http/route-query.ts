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
}

function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const bytes = parseIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (bytes === undefined || !/^[0-9]{1,3}$/.test(lenText)) return undefined;
  const length = Number(lenText);
  if (length > bytes.length * 8) return undefined;
  return { bytes, length };
}

function inside(c: Cidr, r: Route): boolean {
  const d = r.destination;
  if ((d.family === 4 ? 4 : 16) !== c.bytes.length || d.prefixLength < c.length) return false;
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
): Promise<RouteQueryResult> {
  const match = routeMatcher(q);
  const vnis = q.vni !== undefined ? [q.vni] : source.vnis();
  const end = q.offset + q.limit;
  const rows: RouteJson[] = [];
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
    for (const r of source.routes(vni)) {
      scanned++;
      if ((scanned & 15) === 0) await slicer.maybeYield();
      if (pageDoneAt >= 0 && scanned - pageDoneAt > countBudget) {
        complete = false;
        break scan;
      }
      if (match !== undefined && !match(r.route)) continue;
      if (matched >= q.offset && matched < end) rows.push(routeJson(r));
      matched++;
      if (matched === end) {
        if (counted) break scan;
        pageDoneAt = scanned;
      }
    }
  }
  slicer.finish();
  rows.sort(compareRows);
  return {
    offset: q.offset,
    limit: q.limit,
    rows,
    matched: counted ? total : matched,
    complete,
    scanned,
  };
}
