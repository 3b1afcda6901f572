/**
 * The UPDATE path of the server: an UPDATE of a peer checked (canonical fast path or full
 * validation), authorised and limited, applied to the route table and handed to the fan-out.
 */

import type { Refusal } from '../access/limits.js';
import { fieldsInvalidReason, fieldsRouteKey, invalidReasonCode } from '../model/validate.js';
import type { RouteTable } from '../routing/route-table.js';
import { canonicalUpdateKeyStart, fastResult, latin1 } from '../wire/canonical-fast.js';
import { UpdateFields } from '../wire/decode.js';
import { encodeRefused } from '../wire/encode.js';
import { HEADER_SIZE, WireAction } from '../wire/messages.js';
import type { ServerAccess } from './access.js';
import type { FanOut } from './fanout.js';
import type { ServerCounters } from './info.js';
import type { ServerPeer } from './peer.js';

export type RouteEmitter = (peer: ServerPeer, vni: number, key: string, remove: boolean) => void;

export class UpdateIngest {
  /** Whether every applied UPDATE is reported to emitRoute (somebody listens to 'route'). */
  emitRoutes = false;
  private readonly fields = new UpdateFields();

  constructor(
    private readonly table: RouteTable<ServerPeer>,
    private readonly fanout: FanOut,
    private readonly access: ServerAccess,
    private readonly counters: ServerCounters,
    /** Invalid UPDATEs logged per peer before further ones are only counted. */
    private readonly invalidUpdateLogLimit: number,
    private readonly emitRoute: RouteEmitter,
  ) {}

  /** Applies the UPDATE payload `buf[start, end)` received from `peer`. */
  apply(peer: ServerPeer, buf: Buffer, start: number, end: number): void {
    const keyStart = canonicalUpdateKeyStart(buf, start, end);
    if (keyStart >= 0) {
      // Canonical and valid (the usual case): the key is the payload after the action field,
      // and the received frame (header included) is forwarded as it is.
      this.counters.updatesAccepted++;
      const remove = fastResult.action === WireAction.REMOVE;
      if (remove) this.counters.removesAccepted++;
      const vni = fastResult.vni;
      const key = latin1(buf, keyStart, end);
      if (
        !remove &&
        this.access.restricted(peer) &&
        this.refusedAdd(peer, vni, key, buf, start, end)
      )
        return;
      const d = remove ? this.table.remove(peer, vni, key) : this.table.add(peer, vni, key);
      if (d.owned) peer.routesOwned += remove ? -1 : 1;
      const e = d.entry;
      if (e !== undefined) {
        this.fanout.deliver(vni, e, remove, d.kind, d.peer, buf, start - HEADER_SIZE, end);
      }
      if (this.emitRoutes) this.emitRoute(peer, vni, key, remove);
      return;
    }
    const f = this.fields.parse(buf, start, end);
    const reason = fieldsInvalidReason(f);
    if (reason !== undefined) {
      this.invalidUpdate(peer, reason);
      return;
    }
    this.counters.updatesAccepted++;
    const remove = f.action === WireAction.REMOVE;
    if (remove) this.counters.removesAccepted++;
    const key = fieldsRouteKey(f);
    if (
      !remove &&
      this.access.restricted(peer) &&
      this.refusedAdd(peer, f.vni, key, buf, start, end)
    )
      return;
    const d = remove ? this.table.remove(peer, f.vni, key) : this.table.add(peer, f.vni, key);
    if (d.owned) peer.routesOwned += remove ? -1 : 1;
    const e = d.entry;
    if (e !== undefined) this.fanout.deliver(f.vni, e, remove, d.kind, d.peer, undefined, 0, 0);
    if (this.emitRoutes) this.emitRoute(peer, f.vni, key, remove);
  }

  /**
   * Checks an ADD of a peer that a policy limits or that is near a route limit; refuses it (and
   * says so) when it would make the peer own a route it may not. A duplicate ADD passes.
   */
  private refusedAdd(
    peer: ServerPeer,
    vni: number,
    key: string,
    buf: Buffer,
    start: number,
    end: number,
  ): boolean {
    if (this.table.owns(peer, vni, key)) return false;
    const refusal = this.access.checkAdd(peer, vni, this.table.ownedIn(peer, vni));
    if (refusal === undefined) return false;
    this.counters.updatesAccepted--; // counted as refused, not accepted
    this.refuse(peer, refusal, buf.subarray(start, end));
    return true;
  }

  /** A refused UPDATE or SUBSCRIBE: counted, logged (rate-limited), REFUSED to tsbond peers. */
  refuse(peer: ServerPeer, r: Refusal, update?: Uint8Array): void {
    this.access.refused(peer, r, peer.session.log);
    if (peer.session.features.refusals) {
      peer.session.send(encodeRefused(r.kind, r.vni, r.reason, update));
    }
  }

  private invalidUpdate(peer: ServerPeer, reason: string): void {
    this.counters.invalidUpdates++;
    const byReason = this.counters.invalidUpdatesByReason;
    const code = invalidReasonCode(reason);
    byReason[code] = (byReason[code] ?? 0) + 1;
    const n = ++peer.invalidUpdates;
    const limit = this.invalidUpdateLogLimit;
    if (n <= limit) {
      peer.session.log.warn(
        { reason, last: n === limit || undefined },
        n === limit
          ? 'invalid UPDATE dropped (further ones from this peer are only counted)'
          : 'invalid UPDATE dropped',
      );
    }
  }
}
