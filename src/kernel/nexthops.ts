/**
 * The nexthop objects tsbond keeps in the kernel, pure bookkeeping. One object per next-hop
 * address (`encap ip6 dst HOP dev TUN`) and one group per distinct set of two or more addresses;
 * a kernel route uses the object of its set of legs (a single address: the hop object itself).
 *
 * Every object counts its users twice: `users` from the desired state (routes that want it, groups
 * of ours that contain it) and `kernelUsers` from what the kernel holds (routes installed with it,
 * groups in the kernel that contain it). An object is created before anything uses it and deleted
 * only when both counts are zero, so the kernel never drops a route because its object went away.
 */

import { NEXTHOP_ID_BASE } from './constants.js';
import { splitLegs } from './route-state.js';
import { ShardedMap, numberShard, stringShard } from './sharded.js';

export type NhState = 'absent' | 'waiting' | 'creating' | 'present' | 'deleting';

export interface NhObject {
  id: number;
  /** A hop: its address as 32 hex digits. A group: its members' keys, sorted, joined with ','. */
  readonly key: string;
  /** A group's hops, sorted by address; empty for a hop. */
  readonly members: readonly NhObject[];
  users: number;
  kernelUsers: number;
  /** absent; waiting (for its members); creating / deleting (request in flight); present. */
  state: NhState;
  /** Sequence number of the request in flight for it (0: none). */
  seq: number;
  /** Write counter value when it was last written (a reconcile skips it if after its dump). */
  sentAt: number;
  /** No longer the object for its key (found twice, or changed behind our back). */
  retired: boolean;
  /** Called once it exists in the kernel (true), or its creation was refused (false). */
  onReady: ((ok: boolean) => void)[];
  /** In the list of objects that may have become unused (KernelSync.collect). */
  collected: boolean;
  /** errno name of the kernel's last refusal to create it. */
  failed: string | undefined;
  /** A creation whose acknowledgement was lost: EEXIST for its id then means it is there. */
  maybeCreated: boolean;
}

export class NexthopRegistry {
  private readonly byId = new ShardedMap<number, NhObject>(numberShard);
  private readonly byKey = new ShardedMap<string, NhObject>(stringShard);
  private readonly taken = new Set<number>();
  private next = NEXTHOP_ID_BASE;

  get(id: number): NhObject | undefined {
    return this.byId.get(id);
  }

  /** The current object for a key (not a retired one). */
  forKey(key: string): NhObject | undefined {
    return this.byKey.get(key);
  }

  all(): IterableIterator<NhObject> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  /** The object for a set of legs, made (absent) if there is none; counts one more user. */
  acquire(legs: string): NhObject {
    let o = this.byKey.get(legs);
    if (o === undefined) {
      const hexes = splitLegs(legs);
      const members = hexes.length > 1 ? hexes.map((h) => this.acquire(h)) : [];
      o = this.make(this.allocate(), legs, members, 'absent');
    }
    o.users++;
    return o;
  }

  release(o: NhObject): void {
    o.users--;
  }

  /** Ids of objects that are not ours: never allocated. */
  markTaken(id: number): void {
    if (!this.byId.has(id)) this.taken.add(id);
  }

  /** Gives an object whose id turned out to be taken a fresh one. */
  reassign(o: NhObject): void {
    this.byId.delete(o.id);
    this.taken.add(o.id);
    o.id = this.allocate();
    this.byId.set(o.id, o);
  }

  /**
   * An object of ours found in the kernel. It becomes the object for its key unless that key
   * already has one (then it is retired: deleted once nothing uses it).
   */
  adopt(id: number, key: string, members: readonly NhObject[]): NhObject {
    this.taken.delete(id);
    for (const m of members) m.users++;
    const o = this.make(id, key, members, 'present');
    for (const m of members) m.kernelUsers++;
    if (this.byKey.get(key) !== o) o.retired = true;
    return o;
  }

  /** Stops handing out this object for its key (its content differs from what we wrote). */
  retire(o: NhObject): void {
    if (this.byKey.get(o.key) === o) this.byKey.delete(o.key);
    o.retired = true;
  }

  /** Whether an unused object should be deleted from the kernel now. */
  deletable(o: NhObject): boolean {
    return o.users === 0 && o.kernelUsers === 0 && o.state === 'present';
  }

  /** Forgets an unused object that is not in the kernel; returns its members (one user less). */
  forget(o: NhObject): readonly NhObject[] {
    this.byId.delete(o.id);
    if (this.byKey.get(o.key) === o) this.byKey.delete(o.key);
    for (const m of o.members) m.users--;
    return o.members;
  }

  private make(id: number, key: string, members: readonly NhObject[], state: NhState): NhObject {
    const o: NhObject = {
      id,
      key,
      members,
      users: 0,
      kernelUsers: 0,
      state,
      seq: 0,
      sentAt: 0,
      retired: false,
      onReady: [],
      collected: false,
      failed: undefined,
      maybeCreated: false,
    };
    this.byId.set(id, o);
    if (!this.byKey.has(key)) this.byKey.set(key, o);
    return o;
  }

  private allocate(): number {
    for (;;) {
      const id = this.next;
      this.next = id >= 0xffffffff ? NEXTHOP_ID_BASE : id + 1;
      if (!this.byId.has(id) && !this.taken.has(id)) return id;
    }
  }
}
