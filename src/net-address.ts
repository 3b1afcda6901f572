/** `HOST:PORT` text for listen and server addresses: `[::1]:4711`, `127.0.0.1:4711`, `host:4711`. */

import { ParseError } from './errors.js';

/** The MetalBond port. */
export const DEFAULT_PORT = 4711;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const FORM = 'expected HOST:PORT, e.g. [::1]:4711, 127.0.0.1:4711 or localhost:4711';

export function parseHostPort(text: string, defaultPort?: number): HostPort {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) throw new ParseError(`invalid address '${text}': missing ']'; ${FORM}`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':'))
      throw new ParseError(`invalid address '${text}'; ${FORM}`);
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon !== -1 && text.indexOf(':') !== colon) {
      throw new ParseError(`invalid address '${text}': put an IPv6 address in brackets; ${FORM}`);
    }
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (host === '') throw new ParseError(`invalid address '${text}': missing host; ${FORM}`);
  if (portText === undefined) {
    if (defaultPort === undefined)
      throw new ParseError(`invalid address '${text}': missing port; ${FORM}`);
    return { host, port: defaultPort };
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new ParseError(`invalid address '${text}': port '${portText}' must be 0..65535; ${FORM}`);
  }
  return { host, port: Number(portText) };
}

export function formatHostPort(h: HostPort): string {
  return h.host.includes(':') ? `[${h.host}]:${String(h.port)}` : `${h.host}:${String(h.port)}`;
}
