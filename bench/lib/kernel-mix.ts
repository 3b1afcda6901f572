/**
 * The kernel benchmark's route mix, deterministic (same seed, same routes in every process):
 * `routes` kernel routes over `nextHops` next hops, spread over VNIs whose tables are above 255,
 * half IPv6, a quarter with 2-4 ECMP legs. Destinations are mostly host routes (a VM's /32 or
 * /128), one in five a subnet (/24 or /64).
 */

export interface MixRoute {
  readonly vni: number;
  readonly table: number;
  /** Prefix text, host bits clear. */
  readonly prefix: string;
  readonly family: 4 | 6;
  /** Next-hop addresses (distinct). */
  readonly hops: readonly string[];
}

export interface MixOptions {
  readonly routes: number;
  readonly nextHops?: number;
  readonly vnis?: number;
  readonly seed?: number;
}

/** VNI -> table of the mix: VNI 100+i -> table 1000+i. */
export function mixTables(vnis = 8): Map<number, number> {
  return new Map(Array.from({ length: vnis }, (_, i) => [100 + i, 1000 + i]));
}

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hopAddress(i: number): string {
  return `2001:db8:ff:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`;
}

/** Host i: 10.0.0.0 upwards (/32); subnet j: 100.0.0.0/24 upwards. */
function v4(i: number, sub: boolean): string {
  const o = (n: number): string => String(n & 255);
  return sub
    ? `${String(100 + (i >> 16))}.${o(i >> 8)}.${o(i)}.0/24`
    : `${String(10 + (i >> 24))}.${o(i >> 16)}.${o(i >> 8)}.${o(i)}/32`;
}

/** Host i: 2001:db8:8000:HI::LO/128; subnet j: 2001:db8:HI:LO::/64. */
function v6(i: number, sub: boolean): string {
  const hi = (i >> 16).toString(16);
  const lo = (i & 0xffff).toString(16);
  return sub ? `2001:db8:${hi}:${lo}::/64` : `2001:db8:8000:${hi}::${lo}/128`;
}

export function* routeMix(o: MixOptions): Generator<MixRoute> {
  const hops = o.nextHops ?? 1000;
  const tables = [...mixTables(o.vnis)];
  const rand = rng(o.seed ?? 1);
  // Separate counters per family and kind keep every prefix distinct.
  const next = [0, 0, 0, 0];
  for (let i = 0; i < o.routes; i++) {
    const family: 4 | 6 = i % 2 === 0 ? 4 : 6;
    const sub = rand() < 0.2;
    const k = (family === 4 ? 0 : 2) + (sub ? 1 : 0);
    const idx = next[k] ?? 0;
    next[k] = idx + 1;
    const prefix = family === 4 ? v4(idx, sub) : v6(idx, sub);
    const legs = rand() < 0.25 ? 2 + Math.floor(rand() * 3) : 1;
    const set = new Set<string>();
    while (set.size < legs) set.add(hopAddress(Math.floor(rand() * hops)));
    const [vni, table] = tables[i % tables.length] as [number, number];
    yield { vni, table, prefix, family, hops: [...set] };
  }
}
