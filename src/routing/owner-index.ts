/**
 * Route entries and the per-owner index of the route table (route-table.ts). Pure data structures.
 *
 * Every route is one RouteEntry. Each owner keeps, per VNI, an OwnerIndex of the entries it owns:
 * the entries of which it is the primary owner (the only owner, or the first of several) in an
 * array, each entry knowing its position there (O(1) insertion and swap-removal, no hashing), and
 * the entries it co-owns without being primary in a set (several owners of one route are rare).
 */

/** Owners of an entry; WITHDRAWN: in its VNI map until swept, but no route; DETACHED: not in the map. */
export const WITHDRAWN = 0;
export const DETACHED = 1;
export type Owners<P> = P | P[] | typeof WITHDRAWN | typeof DETACHED;

export class RouteEntry<P> {
  constructor(
    readonly key: string,
    public owners: Owners<P>,
    /** Position in the primary owner's OwnerIndex.primary. */
    public pos: number,
    /**
     * Insertion number in its VNI map (increasing in the map's iteration order): a snapshot cursor
     * that has visited the entry with sequence s has visited exactly the entries with seq <= s.
     */
    readonly seq: number,
  ) {}
}

/** Whether `e` is in the view of subscriber `peer` (a route some other peer owns). */
export function visibleTo<P>(e: RouteEntry<P>, peer: P): boolean {
  const o = e.owners;
  return o !== WITHDRAWN && o !== DETACHED && o !== peer;
}

export class OwnerIndex<P> {
  /** Entries this owner is the primary owner of; entry.pos is the position here. */
  primary: RouteEntry<P>[] = [];
  /** Entries this owner co-owns, another owner being primary. */
  shared: Set<RouteEntry<P>> | undefined;

  get size(): number {
    return this.primary.length + (this.shared?.size ?? 0);
  }

  link(e: RouteEntry<P>): void {
    e.pos = this.primary.length;
    this.primary.push(e);
  }

  unlink(e: RouteEntry<P>): void {
    const last = this.primary.pop();
    if (last !== undefined && last !== e) {
      this.primary[e.pos] = last;
      last.pos = e.pos;
    }
  }

  share(e: RouteEntry<P>): void {
    (this.shared ??= new Set()).add(e);
  }

  unshare(e: RouteEntry<P>): void {
    this.shared?.delete(e);
  }
}
