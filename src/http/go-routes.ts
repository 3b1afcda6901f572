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
 * Produced VNI by VNI in slices: a VNI's routes are collected as one string each, sorted with a
 * sliced merge sort and written in chunks, so a million routes never hold the event loop.
 */

import type { NextHopType } from '../model/route.js';
import { goJsonString, goLocalDate, yamlString } from './go-text.js';
import { slicedSort, type ChunkWriter, type Slicer } from './slicer.js';
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

const SEP = '\u0000';

/**
 * One sortable string per route: destination key, hop string (the two sort keys, each ended by
 * a NUL so prefixes order first), then the printed fields. Strings instead of objects keep a
 * million collected routes cheap for the garbage collector.
 */
function routeLine(r: RouteRow): string {
  const h = r.route.nextHop;
  return [
    goDestinationKey(r),
    goNextHopString(r),
    String(TYPE_NUMBER[h.type]),
    String(h.natPortRangeFrom),
    String(h.natPortRangeTo),
    h.address,
    String(h.targetVni),
  ].join(SEP);
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface Hop {
  readonly dest: string;
  readonly type: string;
  readonly from: string;
  readonly to: string;
  readonly address: string;
  readonly targetVni: string;
}

function parseLine(line: string): Hop {
  const [dest = '', , type = '', from = '', to = '', address = '', targetVni = ''] =
    line.split(SEP);
  return { dest, type, from, to, address, targetVni };
}

function jsonHop(h: Hop): string {
  return (
    `        {\n` +
    `          "TargetAddress": ${goJsonString(h.address)},\n` +
    `          "TargetVNI": ${h.targetVni},\n` +
    `          "Type": ${h.type},\n` +
    `          "NATPortRangeFrom": ${h.from},\n` +
    `          "NATPortRangeTo": ${h.to}\n` +
    `        }`
  );
}

function yamlHop(h: Hop): string {
  return (
    `    - targetaddress: ${yamlString(h.address)}\n` +
    `      targetvni: ${h.targetVni}\n` +
    `      type: ${h.type}\n` +
    `      natportrangefrom: ${h.from}\n` +
    `      natportrangeto: ${h.to}\n`
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
    // Collect the VNI's routes as sortable lines.
    let lines: string[] = [];
    for (const r of source.routes(vni)) {
      lines.push(routeLine(r));
      if ((lines.length & 255) === 0) await slicer.maybeYield();
    }
    if (lines.length === 0) continue;
    lines = await slicedSort(lines, compareStrings, slicer);
    if (json) w.write(`${vnisWritten === 0 ? '' : ','}\n    ${goJsonString(String(vni))}: {`);
    else w.write(`${vnisWritten === 0 ? 'vnet:\n' : ''}  ${String(vni)}:\n`);
    vnisWritten++;
    let dest = '';
    for (const line of lines) {
      const h = parseLine(line);
      if (h.dest !== dest) {
        if (json) w.write(`${dest === '' ? '' : '\n      ],'}\n      ${goJsonString(h.dest)}: [\n`);
        else w.write(`    ${yamlString(h.dest)}:\n`);
        dest = h.dest;
      } else if (json) {
        w.write(',\n');
      }
      w.write(json ? jsonHop(h) : yamlHop(h));
      written++;
      await w.step();
    }
    if (json) w.write('\n      ]\n    }');
    lines = [];
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
