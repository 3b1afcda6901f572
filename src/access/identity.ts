/**
 * Who a peer is, for the authorisation rules: its source address and, on the TLS listener, the
 * subject and subject alternative names of the certificate it presented. Pure (works on the
 * object Node's `getPeerCertificate()` returns).
 */

export type SanType = 'DNS' | 'IP' | 'URI' | 'email' | 'other';

export interface SanEntry {
  readonly type: SanType;
  /** As Node reports it (IP addresses: Node's text form, e.g. `10.0.0.1` or `2001:DB8:0:0:0:0:0:1`). */
  readonly value: string;
}

export interface CertificateIdentity {
  /** Subject attributes, each with its values in certificate order (`{ CN: ['agent-1'] }`). */
  readonly subject: Readonly<Record<string, readonly string[]>>;
  /** Subject alternative names. */
  readonly san: readonly SanEntry[];
}

export interface Identity {
  /** Source address as the socket reports it (`::ffff:10.0.0.1`, `2001:db8::1`). */
  readonly address: string;
  /** Present only for a peer on the TLS listener that presented a certificate the CA signed. */
  readonly certificate?: CertificateIdentity | undefined;
}

/** The subset of Node's PeerCertificate used here. */
export interface PeerCertificateLike {
  /** Attribute -> value (an array when the attribute is repeated), as Node gives it. */
  readonly subject?: object | undefined;
  readonly subjectaltname?: string | undefined;
}

const SAN_TYPES: Readonly<Record<string, SanType>> = {
  DNS: 'DNS',
  'IP Address': 'IP',
  URI: 'URI',
  email: 'email',
};

/**
 * Splits Node's `subjectaltname` text (`DNS:a.example, IP Address:10.0.0.1, URI:spiffe://x/y`).
 * Values containing special characters come JSON-quoted (`DNS:"a,b"`), as Node writes them.
 */
export function parseSubjectAltName(text: string | undefined): SanEntry[] {
  const out: SanEntry[] = [];
  if (text === undefined || text === '') return out;
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ' ' || text[i] === ',')) i++;
    if (i >= n) break;
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const typeText = text.slice(i, colon);
    i = colon + 1;
    let value: string;
    if (text[i] === '"') {
      // JSON string: find the closing quote, honouring escapes.
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const quoted = text.slice(i, j + 1);
      try {
        value = JSON.parse(quoted) as string;
      } catch {
        value = quoted.slice(1, -1);
      }
      i = j + 1;
    } else {
      const end = text.indexOf(', ', i);
      value = end === -1 ? text.slice(i) : text.slice(i, end);
      i = end === -1 ? n : end;
    }
    out.push({ type: SAN_TYPES[typeText] ?? 'other', value });
  }
  return out;
}

/**
 * The certificate part of an identity from `getPeerCertificate()`; undefined when no certificate
 * was presented (Node returns an empty object then).
 */
export function certificateIdentity(
  cert: PeerCertificateLike | null | undefined,
): CertificateIdentity | undefined {
  if (cert === null || cert === undefined) return undefined;
  const subjectIn = cert.subject;
  if (subjectIn === undefined && cert.subjectaltname === undefined) return undefined;
  const subject: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(subjectIn ?? {}) as [string, unknown][]) {
    if (typeof v === 'string') subject[k] = [v];
    else if (Array.isArray(v)) subject[k] = v.filter((x): x is string => typeof x === 'string');
  }
  return { subject, san: parseSubjectAltName(cert.subjectaltname) };
}

/** `CN=agent-1,O=Tenant A` (attribute order as given), for logs. */
export function formatSubject(subject: Readonly<Record<string, readonly string[]>>): string {
  const parts: string[] = [];
  for (const [k, vs] of Object.entries(subject)) for (const v of vs) parts.push(`${k}=${v}`);
  return parts.join(',');
}

/** A short description for logs: `[::1]:1234 CN=agent-1 DNS:hv1.example`. */
export function describeIdentity(id: Identity): string {
  const c = id.certificate;
  if (c === undefined) return id.address;
  const san = c.san.map((s) => `${s.type}:${s.value}`).join(' ');
  return [id.address, formatSubject(c.subject), san].filter((s) => s !== '').join(' ');
}
