/** IPv4/IPv6 text <-> bytes, pure. Output text is canonical (RFC 5952 for IPv6). */

const DEC = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses dotted-quad IPv4 text into 4 bytes, or returns undefined. Leading zeros are refused. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!DEC.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** Parses IPv6 text (with `::` and an optional trailing dotted quad) into 16 bytes, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl !== -1) {
    if (text.includes('::', dbl + 1)) return undefined;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const words: number[] = [];
  const all = dbl === -1 ? headGroups : [...headGroups, ...tailGroups];
  // An embedded IPv4 address may only stand as the last group.
  const last = all[all.length - 1];
  let v4: Uint8Array | undefined;
  if (last?.includes('.')) {
    v4 = parseIPv4(last);
    if (v4 === undefined) return undefined;
    if (tailGroups.length > 0) tailGroups.pop();
    else headGroups.pop();
  }
  const parseGroups = (groups: string[]): number[] | undefined => {
    const r: number[] = [];
    for (const g of groups) {
      if (!HEX_GROUP.test(g)) return undefined;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  const h = parseGroups(headGroups);
  const t = parseGroups(tailGroups);
  if (h === undefined || t === undefined) return undefined;
  const v4Words = v4 === undefined ? 0 : 2;
  const explicit = h.length + t.length + v4Words;
  if (dbl === -1) {
    if (explicit !== 8) return undefined;
    words.push(...h);
  } else {
    if (explicit > 7) return undefined;
    words.push(...h, ...new Array<number>(8 - explicit).fill(0), ...t);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? 0;
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  }
  if (v4 !== undefined) out.set(v4, 12);
  return out;
}

/** Parses either family; 4 bytes for IPv4, 16 for IPv6. */
export function parseIP(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

export function formatIPv4(b: Uint8Array, offset = 0): string {
  return `${String(b[offset])}.${String(b[offset + 1])}.${String(b[offset + 2])}.${String(b[offset + 3])}`;
}

/** Groups of the address being formatted (module scratch: formatIPv6 is not re-entrant). */
const groups = new Uint16Array(8);

/** RFC 5952 text: lowercase, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  const w = groups;
  for (let i = 0; i < 8; i++) w[i] = ((b[offset + i * 2] ?? 0) << 8) | (b[offset + i * 2 + 1] ?? 0);
  // IPv4-mapped addresses keep their dotted tail, as Go's netip prints them.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (w[i] ?? 0).toString(16);
  }
  return out;
}

/** Slots of an AddressTextCache (a power of two). */
const TEXT_CACHE_SLOTS = 256;

/**
 * formatIPv6 memoised in a small direct-mapped cache: a route table has few distinct next hops
 * (one underlay address per hypervisor) shared by many routes, so most lookups are a 16-byte
 * compare instead of formatting. Same results as formatIPv6.
 */
export class AddressTextCache {
  private readonly bytes = new Uint8Array(TEXT_CACHE_SLOTS * 16);
  private readonly texts: (string | undefined)[] = new Array<string | undefined>(
    TEXT_CACHE_SLOTS,
  ).fill(undefined);

  formatIPv6(b: Uint8Array, offset = 0): string {
    const slot =
      ((b[offset + 15] ?? 0) ^ ((b[offset + 14] ?? 0) << 3) ^ ((b[offset + 11] ?? 0) << 5)) &
      (TEXT_CACHE_SLOTS - 1);
    const at = slot * 16;
    const cached = this.texts[slot];
    const bytes = this.bytes;
    if (cached !== undefined) {
      let i = 0;
      while (i < 16 && bytes[at + i] === b[offset + i]) i++;
      if (i === 16) return cached;
    }
    const text = formatIPv6(b, offset);
    for (let i = 0; i < 16; i++) bytes[at + i] = b[offset + i] ?? 0;
    this.texts[slot] = text;
    return text;
  }
}

export function formatIP(b: Uint8Array): string {
  return b.length === 4 ? formatIPv4(b) : formatIPv6(b);
}
