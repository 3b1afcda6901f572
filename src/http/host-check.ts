/**
 * Host header check against DNS rebinding: a web page on another site can make a browser send
 * requests to a loopback or LAN address, but the Host header then carries that site's name. The
 * status page only answers when Host is an IP literal (any address: a browser only sends one when
 * the user typed it), `localhost` or a `*.localhost` name, or a name the operator allowed
 * (`--http-allow-host`). Pure.
 */

import { parseIPv4, parseIPv6 } from '../model/ip.js';

/** The host part of a Host header value (brackets removed, lowercased), or undefined. */
export function hostOfHeader(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  if (v === '') return undefined;
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    if (close === -1) return undefined;
    const rest = v.slice(close + 1);
    if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return undefined;
    return v.slice(1, close);
  }
  const colon = v.indexOf(':');
  if (colon === -1) return v;
  if (!/^[0-9]{1,5}$/.test(v.slice(colon + 1))) return undefined;
  return v.slice(0, colon);
}

export function isIpLiteral(host: string): boolean {
  // Zone ids (fe80::1%eth0, in headers as %25) are allowed after an IPv6 literal.
  const h = host.replace(/%.*$/, '');
  return parseIPv4(h) !== undefined || (host.includes(':') && parseIPv6(h) !== undefined);
}

/** Whether a request with this Host header may be answered. */
export function hostAllowed(header: string | undefined, allowedNames: readonly string[]): boolean {
  if (header === undefined) return false;
  const host = hostOfHeader(header);
  if (host === undefined) return false;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (isIpLiteral(name)) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowedNames.some((a) => a.toLowerCase().replace(/\.$/, '') === name);
}
