/**
 * Fan-out fleets: which generator clients a fan-out run has, what they announce in their HELLO
 * (tsbond feature field 1000, lib/hello.ts) and how their reception is checked.
 *
 * - A `count` group must receive every update exactly: expected = every update sent by the other
 *   publishers (nothing lost, nothing duplicated). Cheap (header scan only): for receivers the
 *   server writes to at full speed.
 * - A `view` group keeps each receiver's exact view (a Map): the server paces its writes to such
 *   peers and serves one that falls behind from a backlog of route keys, which may skip an
 *   ADD/REMOVE pair but never duplicates. Checked: no ADD of a present route, no REMOVE of an
 *   absent one, and at the end (the publishers withdrew everything) an empty view.
 */

import { FEATURE_REASSEMBLY } from './hello.js';

export type Track = 'count' | 'view';

export interface ClientGroup {
  /** Statistics are kept per group name. */
  readonly name: string;
  readonly count: number;
  /** HELLO field 1000; undefined: no field (a Go-compatible peer, paced by a tsbond server). */
  readonly features: number | undefined;
  /** Announces and withdraws batches (else only subscribes). */
  readonly publish: boolean;
  readonly track: Track;
}

export type FleetName = 'tsbond' | 'plain' | 'mixed' | 'one-paced' | 'one-paced-baseline';

export interface Fleet {
  readonly name: FleetName;
  /** One line for tables. */
  readonly label: string;
  /** Groups in client-index order (client 0, the probe's announcer, publishes). */
  readonly groups: readonly ClientGroup[];
}

export const FLEET_NAMES: readonly FleetName[] = [
  'tsbond',
  'plain',
  'mixed',
  'one-paced',
  'one-paced-baseline',
];

export interface FleetOptions {
  /** Clients in all. */
  readonly clients: number;
  /** HELLO features of the tsbond-like clients (default REASSEMBLY). */
  readonly features: number;
  /** Mixed fleet: how many clients send no field 1000. */
  readonly mixedPlain: number;
}

export function fleet(name: FleetName, o: FleetOptions): Fleet {
  const fast = (count: number, publish = true, group = 'reassembly'): ClientGroup => ({
    name: group,
    count,
    features: o.features,
    publish,
    track: 'count',
  });
  const plain = (count: number, publish = true, group = 'plain'): ClientGroup => ({
    name: group,
    count,
    features: undefined,
    publish,
    track: 'view',
  });
  const n = o.clients;
  switch (name) {
    case 'tsbond':
      return { name, label: `${String(n)} default tsbond peers`, groups: [fast(n)] };
    case 'plain':
      return {
        name,
        label: `${String(n)} peers without field 1000 (Go-compatible)`,
        groups: [plain(n)],
      };
    case 'mixed': {
      const k = Math.min(Math.max(1, o.mixedPlain), n - 1);
      return {
        name,
        label: `mixed: ${String(n - k)} tsbond peers + ${String(k)} without field 1000`,
        groups: [fast(n - k), plain(k)],
      };
    }
    case 'one-paced':
      return {
        name,
        label: `${String(n - 1)} tsbond peers + 1 subscriber without field 1000`,
        groups: [fast(n - 1, true, 'publishers'), plain(1, false, 'observer')],
      };
    case 'one-paced-baseline':
      return {
        name,
        label: `${String(n - 1)} tsbond peers + 1 tsbond subscriber`,
        groups: [fast(n - 1, true, 'publishers'), fast(1, false, 'observer')],
      };
  }
}

/** Client index -> its group. */
export function groupOfClient(f: Fleet): ClientGroup[] {
  return f.groups.flatMap((g) => Array.from({ length: g.count }, () => g));
}

export function fleetClients(f: Fleet): number {
  return f.groups.reduce((a, g) => a + g.count, 0);
}

/** Whether every client of the fleet announces REASSEMBLY. */
export function allReassemble(f: Fleet): boolean {
  return f.groups.every((g) => g.features !== undefined && (g.features & FEATURE_REASSEMBLY) !== 0);
}
