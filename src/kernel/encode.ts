/**
 * rtnetlink request encoders, pure. The byte layout of route requests follows what iproute2 sends
 * for the same routes (test/kernel/fixtures/iproute2-golden.json holds the captured requests):
 *
 *   ip route replace PREFIX table T proto 254 nexthop encap ip6 dst HOP dev TUN [nexthop ...]
 *   ip -6 route replace PREFIX table T proto 254 nexthop via fe80::1 encap ip6 dst HOP dev TUN [...]
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
  IPV6_LEG_GATEWAY,
  LWTUNNEL_ENCAP_IP6,
  LWTUNNEL_IP6_DST,
  METALBOND_RT_PROTO,
  NLA_F_NESTED,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_ENCAP,
  RTA_ENCAP_TYPE,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_DELROUTE,
  RTM_NEWROUTE,
  RTNH_LEN,
  RTN_UNICAST,
  RTN_UNSPEC,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_UNSPEC,
} from './constants.js';
import { parseIPv6 } from '../model/ip.js';

export type AddressFamily = 4 | 6;

/** One kernel route as tsbond writes it: a multipath route, one encap leg per next hop. */
export interface RouteReplaceSpec {
  readonly family: AddressFamily;
  readonly table: number;
  /** Destination address, host bits cleared (4 or 16 bytes). */
  readonly dst: Uint8Array;
  readonly dstLen: number;
  /** Interface index of the tunnel device. */
  readonly ifindex: number;
  /** Encap destinations (16-byte IPv6 addresses), in the order they are written. */
  readonly legs: readonly Uint8Array[];
}

export interface RouteDeleteSpec {
  readonly family: AddressFamily;
  readonly table: number;
  readonly dst: Uint8Array;
  readonly dstLen: number;
  /** Metric of the route to delete, when it is not the kernel's default. */
  readonly priority?: number | undefined;
}

const LEG_GATEWAY = parseIPv6(IPV6_LEG_GATEWAY) as Uint8Array;

const align4 = (n: number): number => (n + 3) & ~3;

/** Size of a v4 leg: rtnexthop + RTA_ENCAP{LWTUNNEL_IP6_DST} + RTA_ENCAP_TYPE (padded). */
const LEG_V4 = RTNH_LEN + 4 + 4 + 16 + 8;
/** A v6 leg also carries RTA_GATEWAY (the link-local gateway). */
const LEG_V6 = LEG_V4 + 4 + 16;

class MessageWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  header(type: number, flags: number, seq: number): void {
    this.buf.writeUInt32LE(this.buf.length, 0);
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags, 6);
    this.buf.writeUInt32LE(seq >>> 0, 8);
    this.buf.writeUInt32LE(0, 12); // nlmsg_pid: 0, the kernel fills in the sender's port
    this.pos = NLMSG_HDRLEN;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  attrHeader(type: number, payloadLen: number): void {
    this.buf.writeUInt16LE(4 + payloadLen, this.pos);
    this.buf.writeUInt16LE(type, this.pos + 2);
    this.pos += 4;
  }
  attrBytes(type: number, bytes: Uint8Array): void {
    this.attrHeader(type, bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += align4(bytes.length);
  }
  attrU32(type: number, v: number): void {
    this.attrHeader(type, 4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  attrU16(type: number, v: number): void {
    this.attrHeader(type, 2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 4; // 2 bytes of zero padding
  }
  attrString(type: number, s: string): void {
    const bytes = Buffer.from(`${s}\0`, 'utf8');
    this.attrBytes(type, bytes);
  }
}

function familyCode(f: AddressFamily): number {
  return f === 4 ? AF_INET : AF_INET6;
}

function checkDestination(family: AddressFamily, dst: Uint8Array, dstLen: number): void {
  const bytes = family === 4 ? 4 : 16;
  if (dst.length !== bytes) throw new RangeError(`destination must be ${String(bytes)} bytes`);
  if (!Number.isInteger(dstLen) || dstLen < 0 || dstLen > bytes * 8)
    throw new RangeError(`prefix length ${String(dstLen)} out of range`);
}

function checkTable(table: number): void {
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff)
    throw new RangeError(`table id ${String(table)} out of range 1..4294967295`);
}

/** struct rtmsg; the table goes in RTA_TABLE when above 255 (written by the caller). */
function rtmsg(
  w: MessageWriter,
  family: AddressFamily,
  dstLen: number,
  table: number,
  scope: number,
  type: number,
): void {
  w.u8(familyCode(family));
  w.u8(dstLen);
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(table < 256 ? table : RT_TABLE_UNSPEC);
  w.u8(METALBOND_RT_PROTO);
  w.u8(scope);
  w.u8(type);
  w.pos += 4; // rtm_flags
}

/** RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE|NLM_F_ACK: the whole next-hop set at once. */
export function encodeRouteReplace(r: RouteReplaceSpec, seq: number): Buffer {
  checkDestination(r.family, r.dst, r.dstLen);
  checkTable(r.table);
  if (r.legs.length === 0) throw new RangeError('a route needs at least one leg');
  const legLen = r.family === 4 ? LEG_V4 : LEG_V6;
  const size =
    NLMSG_HDRLEN +
    RTMSG_LEN +
    4 +
    r.dst.length +
    (r.table > 255 ? 8 : 0) +
    4 +
    legLen * r.legs.length;
  const w = new MessageWriter(size);
  w.header(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE, seq);
  rtmsg(w, r.family, r.dstLen, r.table, RT_SCOPE_UNIVERSE, RTN_UNICAST);
  w.attrBytes(RTA_DST, r.dst);
  if (r.table > 255) w.attrU32(RTA_TABLE, r.table);
  w.attrHeader(RTA_MULTIPATH, legLen * r.legs.length);
  for (const hop of r.legs) {
    if (hop.length !== 16) throw new RangeError('a leg needs a 16-byte IPv6 encap destination');
    // struct rtnexthop: len, flags 0, hops 0 (weight 1), ifindex
    w.buf.writeUInt16LE(legLen, w.pos);
    w.buf.writeInt32LE(r.ifindex, w.pos + 4);
    w.pos += RTNH_LEN;
    if (r.family === 6) w.attrBytes(RTA_GATEWAY, LEG_GATEWAY);
    w.attrHeader(RTA_ENCAP | NLA_F_NESTED, 4 + 16);
    w.attrBytes(LWTUNNEL_IP6_DST, hop);
    w.attrU16(RTA_ENCAP_TYPE, LWTUNNEL_ENCAP_IP6);
  }
  return w.buf;
}

/** RTM_DELROUTE for our protocol only: the kernel never deletes another protocol's route. */
export function encodeRouteDelete(d: RouteDeleteSpec, seq: number): Buffer {
  checkDestination(d.family, d.dst, d.dstLen);
  checkTable(d.table);
  const size =
    NLMSG_HDRLEN +
    RTMSG_LEN +
    4 +
    d.dst.length +
    (d.table > 255 ? 8 : 0) +
    (d.priority === undefined ? 0 : 8);
  const w = new MessageWriter(size);
  w.header(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq);
  // iproute2 asks for RT_SCOPE_NOWHERE on IPv4 deletes (matches any scope) and 0 on IPv6.
  rtmsg(
    w,
    d.family,
    d.dstLen,
    d.table,
    d.family === 4 ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE,
    RTN_UNSPEC,
  );
  w.attrBytes(RTA_DST, d.dst);
  if (d.table > 255) w.attrU32(RTA_TABLE, d.table);
  if (d.priority !== undefined) w.attrU32(RTA_PRIORITY, d.priority);
  return w.buf;
}

/** RTM_GETROUTE dump of every route of every family (the kernel filters nothing without strict
 * checking; the reader keeps the configured tables). */
export function encodeRouteDump(seq: number): Buffer {
  const w = new MessageWriter(NLMSG_HDRLEN + RTMSG_LEN);
  w.header(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.u8(AF_UNSPEC);
  return w.buf;
}

/** RTM_GETLINK for one device by name; answered by RTM_NEWLINK, or ENODEV. */
export function encodeLinkGet(name: string, seq: number): Buffer {
  const nameLen = Buffer.byteLength(name, 'utf8') + 1;
  const w = new MessageWriter(NLMSG_HDRLEN + IFINFOMSG_LEN + 4 + align4(nameLen));
  w.header(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.pos += IFINFOMSG_LEN; // family AF_UNSPEC, index 0: look up by name
  w.attrString(IFLA_IFNAME, name);
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
