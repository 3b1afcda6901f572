/** rtnetlink reply and notification decoders, pure. */

import {
  AF_INET,
  AF_INET6,
  IFINFOMSG_LEN,
  IFLA_IFNAME,
  LWTUNNEL_IP6_DST,
  NEXTHOP_GRP_LEN,
  NHA_BLACKHOLE,
  NHA_ENCAP,
  NHA_ENCAP_TYPE,
  NHA_GATEWAY,
  NHA_GROUP,
  NHA_ID,
  NHA_OIF,
  NHMSG_LEN,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
  RTA_DST,
  RTA_ENCAP,
  RTA_ENCAP_TYPE,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_NH_ID,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTNH_LEN,
} from './constants.js';
import type { AddressFamily } from './encode.js';

const align4 = (n: number): number => (n + 3) & ~3;

const copyBytes = (buf: Buffer, off: number, len: number): Uint8Array =>
  new Uint8Array(buf.subarray(off, off + len));

export interface MessageHeader {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** Offset of the message (its nlmsghdr) in the buffer. */
  readonly offset: number;
  /** nlmsg_len: header included. */
  readonly length: number;
}

/**
 * Calls `fn` for each netlink message in a datagram. A truncated or malformed tail ends the walk
 * (returns false).
 */
export function forEachMessage(buf: Buffer, fn: (h: MessageHeader) => void): boolean {
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const length = buf.readUInt32LE(off);
    if (length < NLMSG_HDRLEN || off + length > buf.length) return false;
    fn({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      offset: off,
      length,
    });
    off += align4(length);
  }
  return off >= buf.length;
}

/** The errno of an NLMSG_ERROR (0 = acknowledgement), as a positive number. */
export function errorCode(buf: Buffer, h: MessageHeader): number {
  if (h.length < NLMSG_HDRLEN + 4) return 0;
  return -buf.readInt32LE(h.offset + NLMSG_HDRLEN);
}

/** NLMSG_DONE of a dump carries an int: 0, or a negative errno. */
export const doneCode = errorCode;

/** Calls `fn(type, offset, length)` for each attribute in [start, end); type has flags masked. */
export function forEachAttr(
  buf: Buffer,
  start: number,
  end: number,
  fn: (type: number, offset: number, length: number) => void,
): void {
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) return;
    fn(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, off + 4, len - 4);
    off += align4(len);
  }
}

export interface RouteLeg {
  readonly ifindex: number;
  readonly gateway: Uint8Array | undefined;
  readonly encapType: number | undefined;
  /** LWTUNNEL_IP6_DST of an ip6 encap. */
  readonly encapDst: Uint8Array | undefined;
}

export interface DecodedRoute {
  readonly family: AddressFamily;
  readonly dstLen: number;
  readonly table: number;
  readonly protocol: number;
  readonly type: number;
  readonly flags: number;
  /** Destination bytes as the kernel holds them (host bits clear); zeros for a default route. */
  readonly dst: Uint8Array;
  readonly priority: number | undefined;
  /** RTA_NH_ID: the nexthop object the route uses, if any. */
  readonly nhid: number | undefined;
  /** One leg per next hop (also expanded from a nexthop object); a single-path route gives one. */
  readonly legs: RouteLeg[];
}

/** rtm_protocol of an RTM_*ROUTE message, read without decoding the rest. */
export function routeProtocol(buf: Buffer, h: MessageHeader): number {
  return h.length >= NLMSG_HDRLEN + RTMSG_LEN ? (buf[h.offset + NLMSG_HDRLEN + 5] ?? -1) : -1;
}

function legAttrs(
  buf: Buffer,
  start: number,
  end: number,
  ifindex: number,
): { leg: RouteLeg; oif: number | undefined } {
  let gateway: Uint8Array | undefined;
  let encapType: number | undefined;
  let encapDst: Uint8Array | undefined;
  let oif: number | undefined;
  forEachAttr(buf, start, end, (type, off, len) => {
    if (type === RTA_GATEWAY) gateway = copyBytes(buf, off, len);
    else if (type === RTA_ENCAP_TYPE && len >= 2) encapType = buf.readUInt16LE(off);
    else if (type === RTA_OIF && len >= 4) oif = buf.readInt32LE(off);
    else if (type === RTA_ENCAP)
      forEachAttr(buf, off, off + len, (t, o, l) => {
        if (t === LWTUNNEL_IP6_DST && l === 16) encapDst = copyBytes(buf, o, l);
      });
  });
  return { leg: { ifindex: oif ?? ifindex, gateway, encapType, encapDst }, oif };
}

/** Decodes an RTM_NEWROUTE / RTM_DELROUTE message; undefined for other families or a short one. */
export function decodeRoute(buf: Buffer, h: MessageHeader): DecodedRoute | undefined {
  const base = h.offset + NLMSG_HDRLEN;
  const end = h.offset + h.length;
  if (base + RTMSG_LEN > end) return undefined;
  const fam = buf[base];
  if (fam !== AF_INET && fam !== AF_INET6) return undefined;
  const family: AddressFamily = fam === AF_INET ? 4 : 6;
  const dstLen = buf[base + 1] ?? 0;
  let table = buf[base + 4] ?? 0;
  const protocol = buf[base + 5] ?? 0;
  const type = buf[base + 7] ?? 0;
  const flags = buf.readUInt32LE(base + 8);
  let dst: Uint8Array = new Uint8Array(family === 4 ? 4 : 16);
  let priority: number | undefined;
  let nhid: number | undefined;
  const legs: RouteLeg[] = [];
  const attrStart = base + RTMSG_LEN;
  forEachAttr(buf, attrStart, end, (t, off, len) => {
    if (t === RTA_DST && len === dst.length) dst = copyBytes(buf, off, len);
    else if (t === RTA_TABLE && len >= 4) table = buf.readUInt32LE(off);
    else if (t === RTA_PRIORITY && len >= 4) priority = buf.readUInt32LE(off);
    else if (t === RTA_NH_ID && len >= 4) nhid = buf.readUInt32LE(off);
    else if (t === RTA_MULTIPATH) {
      let o = off;
      const mpEnd = off + len;
      while (o + RTNH_LEN <= mpEnd) {
        const nhLen = buf.readUInt16LE(o);
        if (nhLen < RTNH_LEN || o + nhLen > mpEnd) break;
        legs.push(legAttrs(buf, o + RTNH_LEN, o + nhLen, buf.readInt32LE(o + 4)).leg);
        o += align4(nhLen);
      }
    }
  });
  if (legs.length === 0) {
    // Single path: RTA_OIF, RTA_GATEWAY and RTA_ENCAP* are top-level attributes.
    const single = legAttrs(buf, attrStart, end, 0);
    if (single.oif !== undefined) legs.push(single.leg);
  }
  return { family, dstLen, table, protocol, type, flags, dst, priority, nhid, legs };
}

export interface DecodedLink {
  readonly index: number;
  readonly flags: number;
  readonly name: string | undefined;
}

/** Decodes an RTM_NEWLINK / RTM_DELLINK message. */
export function decodeLink(buf: Buffer, h: MessageHeader): DecodedLink | undefined {
  const base = h.offset + NLMSG_HDRLEN;
  const end = h.offset + h.length;
  if (base + IFINFOMSG_LEN > end) return undefined;
  const index = buf.readInt32LE(base + 4);
  const flags = buf.readUInt32LE(base + 8);
  let name: string | undefined;
  forEachAttr(buf, base + IFINFOMSG_LEN, end, (t, off, len) => {
    if (t === IFLA_IFNAME) {
      const nul = buf.indexOf(0, off);
      name = buf.toString('utf8', off, nul === -1 || nul > off + len ? off + len : nul);
    }
  });
  return { index, flags, name };
}

export interface DecodedNexthop {
  readonly id: number;
  /** AF_INET, AF_INET6 or AF_UNSPEC (groups). */
  readonly family: number;
  readonly protocol: number;
  /** Member ids of a group (in the kernel's order); undefined for a single next hop. */
  readonly group: number[] | undefined;
  readonly oif: number | undefined;
  readonly gateway: Uint8Array | undefined;
  readonly encapType: number | undefined;
  readonly encapDst: Uint8Array | undefined;
  readonly blackhole: boolean;
}

/** Decodes an RTM_NEWNEXTHOP / RTM_DELNEXTHOP message. */
export function decodeNexthop(buf: Buffer, h: MessageHeader): DecodedNexthop | undefined {
  const base = h.offset + NLMSG_HDRLEN;
  const end = h.offset + h.length;
  if (base + NHMSG_LEN > end) return undefined;
  const family = buf[base] ?? 0;
  const protocol = buf[base + 2] ?? 0;
  let id = 0;
  let group: number[] | undefined;
  let oif: number | undefined;
  let gateway: Uint8Array | undefined;
  let encapType: number | undefined;
  let encapDst: Uint8Array | undefined;
  let blackhole = false;
  forEachAttr(buf, base + NHMSG_LEN, end, (t, off, len) => {
    if (t === NHA_ID && len >= 4) id = buf.readUInt32LE(off);
    else if (t === NHA_OIF && len >= 4) oif = buf.readUInt32LE(off);
    else if (t === NHA_GATEWAY) gateway = copyBytes(buf, off, len);
    else if (t === NHA_ENCAP_TYPE && len >= 2) encapType = buf.readUInt16LE(off);
    else if (t === NHA_BLACKHOLE) blackhole = true;
    else if (t === NHA_ENCAP)
      forEachAttr(buf, off, off + len, (et, eo, el) => {
        if (et === LWTUNNEL_IP6_DST && el === 16) encapDst = copyBytes(buf, eo, el);
      });
    else if (t === NHA_GROUP) {
      group = [];
      for (let o = off; o + NEXTHOP_GRP_LEN <= off + len; o += NEXTHOP_GRP_LEN)
        group.push(buf.readUInt32LE(o));
    }
  });
  if (id === 0) return undefined;
  return { id, family, protocol, group, oif, gateway, encapType, encapDst, blackhole };
}
