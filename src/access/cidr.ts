/**
 * CIDR prefixes and address matching for `--allow` and the authorisation file. Pure.
 *
 * Everything is compared in one 16-byte space: an IPv4 address or prefix is taken as its
 * IPv4-mapped IPv6 form (`10.0.0.0/8` is `::ffff:10.0.0.0/104`). So `10.0.0.0/8` matches both
 * `10.1.2.3` and `::ffff:10.1.2.3` (how Node reports IPv4 clients of a dual-stack listener), and
 * `::/0` matches every address of either family.
 */

import { ParseError } from '../errors.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../model/ip.js';

/** A parsed prefix. `bytes` is the 16-byte (IPv4-mapped for IPv4) network, host bits cleared. */
export interface Cidr {
  /** The family it was written in. */
  readonly family: 4 | 6;
  /** Prefix length in the family it was written in (0..32 or 0..128). */
  readonly prefixLength: number;
  /** Network in the 16-byte space, host bits cleared. */
  readonly bytes: Uint8Array;
  /** Prefix length in the 16-byte space (IPv4: prefixLength + 96). */
  readonly bits: number;
  /** Canonical text (`10.0.0.0/8`, `2001:db8::/32`). */
  readonly text: string;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(MAPPED_PREFIX, 0);
  out.set(v4, 12);
  return out;
}

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (b[i] !== MAPPED_PREFIX[i]) return false;
  return true;
}

/**
 * An address as a socket reports it (`10.1.2.3`, `::ffff:10.1.2.3`, `2001:db8::1`,
 * `fe80::1%eth0`) in the 16-byte space, or undefined when it is not an IP address.
 */
export function addressBytes(address: string): Uint8Array | undefined {
  let text = address.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (text.includes(':')) return parseIPv6(text);
  const v4 = parseIPv4(text);
  return v4 === undefined ? undefined : mapped(v4);
}

function clearHostBits(b: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(b);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/**
 * Parses `ADDRESS/LENGTH` (or a bare address: a host prefix). Host bits are cleared
 * (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6 prefix of length >= 96 is the IPv4 prefix.
 * Throws ParseError naming the bad part.
 */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash === -1 ? t : t.slice(0, slash);
  const lenText = slash === -1 ? undefined : t.slice(slash + 1);
  const form = 'expected ADDRESS/LENGTH, e.g. 10.0.0.0/8 or 2001:db8::/32';
  let family: 4 | 6;
  let raw: Uint8Array | undefined;
  if (addrText.includes(':')) {
    family = 6;
    raw = parseIPv6(addrText);
  } else {
    family = 4;
    const v4 = parseIPv4(addrText);
    raw = v4 === undefined ? undefined : mapped(v4);
  }
  if (raw === undefined)
    throw new ParseError(`invalid CIDR '${text}': bad address '${addrText}'; ${form}`);
  const max = family === 4 ? 32 : 128;
  let prefixLength = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      throw new ParseError(
        `invalid CIDR '${text}': prefix length '${lenText}' must be 0..${String(max)}; ${form}`,
      );
    }
    prefixLength = Number(lenText);
  }
  let bits = family === 4 ? prefixLength + 96 : prefixLength;
  if (family === 6 && bits >= 96 && isMapped(raw)) {
    family = 4;
    prefixLength = bits - 96;
  }
  bits = family === 4 ? prefixLength + 96 : prefixLength;
  const bytes = clearHostBits(raw, bits);
  const shown = family === 4 ? formatIPv4(bytes, 12) : formatIPv6(bytes);
  return { family, prefixLength, bytes, bits, text: `${shown}/${String(prefixLength)}` };
}

/** Whether the 16-byte address lies in the prefix. */
export function cidrContainsBytes(c: Cidr, addr: Uint8Array): boolean {
  const full = c.bits >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== c.bytes[i]) return false;
  const rest = c.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full] ?? 0) & mask) === c.bytes[full];
}

/** Whether the address (as a socket reports it) lies in the prefix; false for a non-address. */
export function cidrContains(c: Cidr, address: string): boolean {
  const b = addressBytes(address);
  return b !== undefined && cidrContainsBytes(c, b);
}

/** A list of prefixes, e.g. the repeated `--allow` flags. */
export class CidrList {
  readonly cidrs: readonly Cidr[];

  constructor(cidrs: readonly (Cidr | string)[]) {
    this.cidrs = cidrs.map((c) => (typeof c === 'string' ? parseCidr(c) : c));
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** The first prefix containing the address, or undefined (also for a non-address). */
  match(address: string): Cidr | undefined {
    const b = addressBytes(address);
    if (b === undefined) return undefined;
    for (const c of this.cidrs) if (cidrContainsBytes(c, b)) return c;
    return undefined;
  }

  matches(address: string): boolean {
    return this.match(address) !== undefined;
  }

  toString(): string {
    return this.cidrs.map((c) => c.text).join(',');
  }
}

/**
 * The `--allow` decision: no list (or an empty one) allows everybody; otherwise the address must
 * lie in one of the prefixes.
 */
export function isAllowed(allow: CidrList | undefined, address: string | undefined): boolean {
  if (allow === undefined || allow.size === 0) return true;
  return address !== undefined && allow.matches(address);
}
