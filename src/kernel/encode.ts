/**
 * rtnetlink request encoders, pure. The byte layout follows what iproute2 sends for the same
 * objects and routes (test/kernel/fixtures/iproute2-golden.json holds the captured requests):
 *
 *   ip -6 nexthop add id ID proto 254 encap ip6 dst HOP dev TUN        one object per next hop
 *   ip nexthop add id ID proto 254 group ID1/ID2/...                   one per set of 2+ hops
 *   ip nexthop del id ID
 *   ip route replace PREFIX table T proto 254 nhid ID                  IPv4 and IPv6 alike
 *   ip [-6] route del PREFIX table T proto 254
 *
 * Attributes are 4-byte aligned with zeroed padding; table ids above 255 go in RTA_TABLE (rtm_table
 * then says RT_TABLE_UNSPEC), as iproute2 does.
 */

import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFINFOMSG_LEN,
  IFLA_IFNAME,
  LWTUNNEL_ENCAP_IP6,
  LWTUNNEL_IP6_DST,
  METALBOND_RT_PROTO,
  NEXTHOP_GRP_LEN,
  NHA_ENCAP,
  NHA_ENCAP_TYPE,
  NHA_GROUP,
  NHA_ID,
  NHA_OIF,
  NHMSG_LEN,
  NLA_F_NESTED,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_NH_ID,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETNEXTHOP,
  RTM_GETROUTE,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTN_UNSPEC,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_UNSPEC,
} from './constants.js';
import { writeAddress } from './address.js';

export type AddressFamily = 4 | 6;

/** A kernel route as tsbond writes it: a prefix in a table, forwarded by a nexthop object. */
export interface RouteReplaceSpec {
  readonly family: AddressFamily;
  readonly table: number;
  /** Destination address, host bits cleared (4 or 16 bytes). */
  readonly dst: Uint8Array;
  readonly dstLen: number;
  /** The nexthop object (one next hop, or a group). */
  readonly nhid: number;
}

export interface RouteDeleteSpec {
  readonly family: AddressFamily;
  readonly table: number;
  readonly dst: Uint8Array;
  readonly dstLen: number;
  /** Metric of the route to delete, when it is not the kernel's default. */
  readonly priority?: number | undefined;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Little-endian stores without Buffer's method call and checks (offsets are ours). */
function u16(buf: Buffer, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}

function u32(buf: Buffer, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = v >>> 24;
}

/** A u32 attribute (struct rtattr + value) at `off`; returns the offset after it. */
function u32Attr(buf: Buffer, off: number, type: number, v: number): number {
  u16(buf, off, 8);
  u16(buf, off + 2, type);
  u32(buf, off + 4, v);
  return off + 8;
}

/** struct nlmsghdr; nlmsg_pid 0 (the kernel fills in the sender's port). */
function writeHeader(
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  flags: number,
  seq: number,
): void {
  u32(buf, off, len);
  u16(buf, off + 4, type);
  u16(buf, off + 6, flags);
  u32(buf, off + 8, seq >>> 0);
  u32(buf, off + 12, 0);
}

class MessageWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    // From Node's shared pool (cheap for small messages); zeroed: padding and reserved fields.
    this.buf = Buffer.allocUnsafe(size).fill(0);
  }
  header(type: number, flags: number, seq: number): void {
    writeHeader(this.buf, 0, this.buf.length, type, flags, seq);
    this.pos = NLMSG_HDRLEN;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  attrHeader(type: number, payloadLen: number): void {
    u16(this.buf, this.pos, 4 + payloadLen);
    u16(this.buf, this.pos + 2, type);
    this.pos += 4;
  }
  attrBytes(type: number, bytes: Uint8Array): void {
    this.attrHeader(type, bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += align4(bytes.length);
  }
  attrU32(type: number, v: number): void {
    this.attrHeader(type, 4);
    u32(this.buf, this.pos, v >>> 0);
    this.pos += 4;
  }
  attrU16(type: number, v: number): void {
    this.attrHeader(type, 2);
    u16(this.buf, this.pos, v);
    this.pos += 4; // 2 bytes of zero padding
  }
}

function checkDstLen(family: AddressFamily, dstLen: number): void {
  if (!Number.isInteger(dstLen) || dstLen < 0 || dstLen > (family === 4 ? 32 : 128))
    throw new RangeError(`prefix length ${String(dstLen)} out of range`);
}

function checkDestination(family: AddressFamily, dst: Uint8Array | string, dstLen: number): void {
  const bytes = family === 4 ? 4 : 16;
  if (typeof dst !== 'string' && dst.length !== bytes)
    throw new RangeError(`destination must be ${String(bytes)} bytes`);
  checkDstLen(family, dstLen);
}

function checkId(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff)
    throw new RangeError(`${what} ${String(v)} out of range 1..4294967295`);
}

/** Bytes of the largest route request (IPv6, table above 255, nhid or priority). */
export const ROUTE_MESSAGE_MAX = NLMSG_HDRLEN + RTMSG_LEN + 20 + 8 + 8;

/**
 * The header, struct rtmsg and RTA_DST (+ RTA_TABLE) of a route request at `off`, every byte
 * written (the buffer may hold anything); returns the offset after them.
 */
function writeRouteHead(
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  flags: number,
  seq: number,
  family: AddressFamily,
  table: number,
  dst: Uint8Array | string,
  dstLen: number,
  scope: number,
  rtType: number,
): number {
  writeHeader(buf, off, len, type, flags, seq);
  let p = off + NLMSG_HDRLEN;
  buf[p] = family === 4 ? AF_INET : AF_INET6;
  buf[p + 1] = dstLen;
  buf[p + 2] = 0; // src_len
  buf[p + 3] = 0; // tos
  buf[p + 4] = table < 256 ? table : RT_TABLE_UNSPEC;
  buf[p + 5] = METALBOND_RT_PROTO;
  buf[p + 6] = scope;
  buf[p + 7] = rtType;
  u32(buf, p + 8, 0); // rtm_flags
  p += RTMSG_LEN;
  const alen = family === 4 ? 4 : 16;
  u16(buf, p, 4 + alen);
  u16(buf, p + 2, RTA_DST);
  if (typeof dst === 'string') writeAddress(buf, p + 4, dst, family);
  else buf.set(dst, p + 4);
  p += 4 + alen;
  return table > 255 ? u32Attr(buf, p, RTA_TABLE, table) : p;
}

/**
 * RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE|NLM_F_ACK at `off` of `buf`: the route now uses
 * `nhid`. The destination is its bytes or its text (host bits clear). Returns the message length.
 */
export function writeRouteReplace(
  buf: Buffer,
  off: number,
  family: AddressFamily,
  table: number,
  dst: Uint8Array | string,
  dstLen: number,
  nhid: number,
  seq: number,
): number {
  checkDestination(family, dst, dstLen);
  checkId('table id', table);
  checkId('nexthop id', nhid);
  const len = NLMSG_HDRLEN + RTMSG_LEN + (family === 4 ? 8 : 20) + (table > 255 ? 8 : 0) + 8;
  const flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE;
  const p = writeRouteHead(
    buf,
    off,
    len,
    RTM_NEWROUTE,
    flags,
    seq,
    family,
    table,
    dst,
    dstLen,
    RT_SCOPE_UNIVERSE,
    RTN_UNICAST,
  );
  u32Attr(buf, p, RTA_NH_ID, nhid);
  return len;
}

/**
 * RTM_DELROUTE for our protocol only (the kernel never deletes another protocol's route) at `off`
 * of `buf`. Returns the message length.
 */
export function writeRouteDelete(
  buf: Buffer,
  off: number,
  family: AddressFamily,
  table: number,
  dst: Uint8Array | string,
  dstLen: number,
  priority: number | undefined,
  seq: number,
): number {
  checkDestination(family, dst, dstLen);
  checkId('table id', table);
  const len =
    NLMSG_HDRLEN +
    RTMSG_LEN +
    (family === 4 ? 8 : 20) +
    (table > 255 ? 8 : 0) +
    (priority === undefined ? 0 : 8);
  // iproute2 asks for RT_SCOPE_NOWHERE on IPv4 deletes (matches any scope) and 0 on IPv6.
  const scope = family === 4 ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE;
  const flags = NLM_F_REQUEST | NLM_F_ACK;
  const p = writeRouteHead(
    buf,
    off,
    len,
    RTM_DELROUTE,
    flags,
    seq,
    family,
    table,
    dst,
    dstLen,
    scope,
    RTN_UNSPEC,
  );
  if (priority !== undefined) {
    u32Attr(buf, p, RTA_PRIORITY, priority);
  }
  return len;
}

/** RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE|NLM_F_ACK: the route now uses `nhid`. */
export function encodeRouteReplace(r: RouteReplaceSpec, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(ROUTE_MESSAGE_MAX);
  const len = writeRouteReplace(buf, 0, r.family, r.table, r.dst, r.dstLen, r.nhid, seq);
  return buf.subarray(0, len);
}

/** RTM_DELROUTE for our protocol only: the kernel never deletes another protocol's route. */
export function encodeRouteDelete(d: RouteDeleteSpec, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(ROUTE_MESSAGE_MAX);
  const len = writeRouteDelete(buf, 0, d.family, d.table, d.dst, d.dstLen, d.priority, seq);
  return buf.subarray(0, len);
}

function nhmsg(w: MessageWriter, family: number, protocol: number): void {
  w.u8(family);
  w.u8(0); // scope
  w.u8(protocol);
  w.u8(0);
  w.pos += 4; // nh_flags
}

/**
 * RTM_NEWNEXTHOP, NLM_F_CREATE|NLM_F_EXCL (EEXIST if the id is taken): an IPv6 nexthop object
 * that encapsulates to `hop` (16 bytes) over the tunnel device. IPv4 and IPv6 routes both use it.
 */
export function encodeNexthopCreate(
  id: number,
  hop: Uint8Array,
  ifindex: number,
  seq: number,
): Buffer {
  checkId('nexthop id', id);
  if (hop.length !== 16) throw new RangeError('a next hop is a 16-byte IPv6 address');
  const w = new MessageWriter(NLMSG_HDRLEN + NHMSG_LEN + 8 + 24 + 8 + 8);
  w.header(RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  nhmsg(w, AF_INET6, METALBOND_RT_PROTO);
  w.attrU32(NHA_ID, id);
  w.attrHeader(NHA_ENCAP | NLA_F_NESTED, 4 + 16);
  w.attrBytes(LWTUNNEL_IP6_DST, hop);
  w.attrU16(NHA_ENCAP_TYPE, LWTUNNEL_ENCAP_IP6);
  w.attrU32(NHA_OIF, ifindex);
  return w.buf;
}

/** RTM_NEWNEXTHOP, NLM_F_CREATE|NLM_F_EXCL: a multipath group of nexthop objects, weight 1 each. */
export function encodeNexthopGroupCreate(
  id: number,
  members: readonly number[],
  seq: number,
): Buffer {
  checkId('nexthop id', id);
  if (members.length < 2) throw new RangeError('a group needs at least two members');
  for (const m of members) checkId('nexthop id', m);
  const w = new MessageWriter(NLMSG_HDRLEN + NHMSG_LEN + 8 + 4 + NEXTHOP_GRP_LEN * members.length);
  w.header(RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  nhmsg(w, AF_UNSPEC, METALBOND_RT_PROTO);
  w.attrU32(NHA_ID, id);
  w.attrHeader(NHA_GROUP, NEXTHOP_GRP_LEN * members.length);
  for (const m of members) {
    w.buf.writeUInt32LE(m, w.pos); // weight byte 0 means weight 1
    w.pos += NEXTHOP_GRP_LEN;
  }
  return w.buf;
}

/** RTM_DELNEXTHOP by id. */
export function encodeNexthopDelete(id: number, seq: number): Buffer {
  checkId('nexthop id', id);
  const w = new MessageWriter(NLMSG_HDRLEN + NHMSG_LEN + 8);
  w.header(RTM_DELNEXTHOP, NLM_F_REQUEST | NLM_F_ACK, seq);
  nhmsg(w, AF_UNSPEC, 0);
  w.attrU32(NHA_ID, id);
  return w.buf;
}

/** RTM_GETROUTE dump of every route of every family (the reader keeps the configured tables). */
export function encodeRouteDump(seq: number): Buffer {
  const w = new MessageWriter(NLMSG_HDRLEN + RTMSG_LEN);
  w.header(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.u8(AF_UNSPEC);
  return w.buf;
}

/** RTM_GETNEXTHOP dump of every nexthop object. */
export function encodeNexthopDump(seq: number): Buffer {
  const w = new MessageWriter(NLMSG_HDRLEN + NHMSG_LEN);
  w.header(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq);
  return w.buf;
}

/** RTM_GETLINK for one device by name; answered by RTM_NEWLINK, or ENODEV. */
export function encodeLinkGet(name: string, seq: number): Buffer {
  const bytes = Buffer.from(`${name}\0`, 'utf8');
  const w = new MessageWriter(NLMSG_HDRLEN + IFINFOMSG_LEN + 4 + align4(bytes.length));
  w.header(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.pos += IFINFOMSG_LEN; // family AF_UNSPEC, index 0: look up by name
  w.attrBytes(IFLA_IFNAME, bytes);
  return w.buf;
}

/**
 * A request that needs CAP_NET_ADMIN and changes nothing: RTM_NEWROUTE without NLM_F_CREATE for
 * an IPv4 prefix length of 33. The kernel checks the capability first (EPERM without it), then
 * refuses the prefix length (EINVAL).
 */
export function encodePermissionProbe(seq: number): Buffer {
  const w = new MessageWriter(NLMSG_HDRLEN + RTMSG_LEN);
  w.header(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.u8(AF_INET);
  w.u8(33);
  return w.buf;
}
