/**
 * The scenario model of the interop matrix: every client (Go, rustbond, tsbond) is a member with
 * the VNIs it subscribes to and the routes it announces. The expected view of a member is every
 * route announced by another live member in its VNIs, no own route echoed back; converge() polls
 * every member's actual view (Go /routes.json, rustbond-peer events, tsbond RouteHandler calls)
 * until all match, with a deadline.
 */

import type { GoClient } from './go.js';
import { lines, type VniRoute } from './routes.js';
import type { RustClient } from './rust.js';
import type { TsClient } from './tsbond.js';
import { pollUntil } from './wait.js';

export interface Member {
  readonly name: string;
  readonly vnis: Set<number>;
  readonly announced: VniRoute[];
  /** false once the member was stopped (its routes must be withdrawn everywhere). */
  up: boolean;
  /**
   * Leave the member's own routes out of its view before comparing: for a client without loop
   * prevention (rustbond) on a server that may echo them back (rustbond, see docs/interop.md).
   */
  ignoreOwnEcho?: boolean;
  /** Every route the member announced at some point (an echoed copy can outlive a withdrawal). */
  readonly everAnnounced: Set<string>;
  view(): Promise<string[]>;
}

function member(
  name: string,
  view: () => Promise<string[]>,
  vnis: readonly number[],
  announced: readonly VniRoute[],
): Member {
  return {
    name,
    vnis: new Set(vnis),
    announced: [...announced],
    everAnnounced: new Set<string>(),
    up: true,
    view,
  };
}

export function goMember(
  name: string,
  c: GoClient,
  vnis: readonly number[],
  announced: readonly VniRoute[],
): Member {
  return member(name, async () => lines(await c.routes()), vnis, announced);
}

export function rustMember(
  name: string,
  c: RustClient,
  vnis: readonly number[],
  announced: readonly VniRoute[],
): Member {
  return member(name, () => Promise.resolve(c.held()), vnis, announced);
}

export function tsMember(
  name: string,
  c: TsClient,
  vnis: readonly number[],
  announced: readonly VniRoute[],
): Member {
  return member(name, () => Promise.resolve(c.held()), vnis, announced);
}

/** What `m` must hold: routes of the other live members in m's VNIs (each route once). */
export function expectedView(members: readonly Member[], m: Member): string[] {
  const out = new Set<string>();
  for (const o of members) {
    if (o === m || !o.up) continue;
    for (const line of lines(o.announced.filter((r) => m.vnis.has(r.vni)))) out.add(line);
  }
  return [...out].sort();
}

function diff(want: readonly string[], got: readonly string[]): string {
  const w = new Set(want);
  const g = new Set(got);
  const missing = want.filter((x) => !g.has(x));
  const extra = got.filter((x) => !w.has(x));
  return `missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`;
}

/**
 * Waits until every live member's view equals its expected view (routes.json is polled, so this
 * is a poll with a deadline). The failure message lists the differences per member.
 */
export async function converge(
  members: readonly Member[],
  timeoutMs: number,
  what: string,
): Promise<void> {
  let report = '';
  await pollUntil(
    what,
    async () => {
      const problems: string[] = [];
      for (const m of members) {
        if (!m.up) continue;
        const want = expectedView(members, m);
        let got = await m.view();
        const ever = m.everAnnounced;
        for (const l of lines(m.announced)) ever.add(l);
        if (m.ignoreOwnEcho === true) got = got.filter((l) => !ever.has(l));
        if (JSON.stringify(got) !== JSON.stringify(want))
          problems.push(`${m.name}: ${diff(want, got)}`);
      }
      report = problems.join('\n');
      return problems.length === 0 ? true : undefined;
    },
    timeoutMs,
    150,
    () => report,
  );
}
