/**
 * Mutual TLS for tsbond peers: certificate, key and CA files for a `tls.createServer` listener or
 * a `tls.connect` client (both sides present a certificate, both verify it against the CA),
 * reloaded on SIGHUP by swapping the secure context, and the peer's identity from its certificate.
 */

import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import {
  createSecureContext,
  type ConnectionOptions,
  type SecureContext,
  type Server as TlsServer,
  type TlsOptions,
  type TLSSocket,
} from 'node:tls';

import { MetalBondError, ParseError } from '../errors.js';
import { certificateIdentity, type Identity } from './identity.js';

/** Paths given by `--tls-cert`, `--tls-key`, `--tls-ca`. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The files' contents (PEM). */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Oldest protocol version accepted on either side. */
export const TLS_MIN_VERSION = 'TLSv1.2';

function readErr(what: string, path: string, e: unknown): ParseError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
  return new ParseError(`cannot read TLS ${what} ${path}: ${why}`);
}

/** Reads the three files; throws ParseError naming the file that could not be read. */
export function loadTlsMaterialSync(files: TlsFiles): TlsMaterial {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw readErr(what, path, e);
    }
  };
  return {
    cert: read('certificate', files.cert),
    key: read('key', files.key),
    ca: read('CA', files.ca),
  };
}

export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      throw readErr(what, path, e);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read('certificate', files.cert),
    read('key', files.key),
    read('CA', files.ca),
  ]);
  return { cert, key, ca };
}

/**
 * A secure context from the material; throws ParseError when the PEM is invalid or the key does
 * not belong to the certificate.
 */
export function secureContextFrom(m: TlsMaterial): SecureContext {
  try {
    return createSecureContext({
      cert: m.cert,
      key: m.key,
      ca: m.ca,
      minVersion: TLS_MIN_VERSION,
    });
  } catch (e) {
    throw new ParseError(
      `invalid TLS certificate, key or CA: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/**
 * Options for `tls.createServer`: mutual TLS (a client without a certificate signed by the CA is
 * refused during the TLS handshake, before any MetalBond byte).
 */
export function serverTlsOptions(m: TlsMaterial, handshakeTimeoutMs?: number): TlsOptions {
  secureContextFrom(m); // validate now, with a clear error
  return {
    cert: m.cert,
    key: m.key,
    ca: m.ca,
    minVersion: TLS_MIN_VERSION,
    requestCert: true,
    rejectUnauthorized: true,
    ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: handshakeTimeoutMs }),
  };
}

/**
 * Options for `tls.connect`: presents our certificate and verifies the server's against the CA
 * and against `host` (name or IP SAN).
 */
export function clientTlsOptions(
  context: SecureContext,
  host: string,
  port: number,
): ConnectionOptions {
  return {
    host,
    port,
    secureContext: context,
    rejectUnauthorized: true,
    minVersion: TLS_MIN_VERSION,
    // SNI only for names (sending an IP address as SNI is not allowed).
    ...(/^[0-9.]+$/.test(host) || host.includes(':') ? {} : { servername: host }),
  };
}

export type TlsReloadResult =
  { readonly ok: true } | { readonly ok: false; readonly error: MetalBondError };

/**
 * The certificate files of one side, reloadable. A server calls `reload(server)`, which swaps
 * the listener's secure context (sessions already up keep theirs); a client uses `context` for
 * every new connection. A reload that fails keeps what is in force.
 */
export class TlsCredentials {
  private _material: TlsMaterial;
  private _context: SecureContext;

  private constructor(
    readonly files: TlsFiles,
    material: TlsMaterial,
  ) {
    this._material = material;
    this._context = secureContextFrom(material);
  }

  /** Loads and checks the files at start-up; throws ParseError. */
  static loadSync(files: TlsFiles): TlsCredentials {
    return new TlsCredentials(files, loadTlsMaterialSync(files));
  }

  get material(): TlsMaterial {
    return this._material;
  }

  /** The secure context in force (for `tls.connect`). */
  get context(): SecureContext {
    return this._context;
  }

  serverOptions(handshakeTimeoutMs?: number): TlsOptions {
    return serverTlsOptions(this._material, handshakeTimeoutMs);
  }

  /** Re-reads the files; on success they are in force (and swapped into `server` if given). */
  async reload(server?: TlsServer): Promise<TlsReloadResult> {
    try {
      const m = await loadTlsMaterial(this.files);
      const context = secureContextFrom(m);
      server?.setSecureContext({ cert: m.cert, key: m.key, ca: m.ca, minVersion: TLS_MIN_VERSION });
      this._material = m;
      this._context = context;
      return { ok: true };
    } catch (e) {
      const error =
        e instanceof MetalBondError ? e : new ParseError(`TLS reload failed: ${String(e)}`);
      return { ok: false, error };
    }
  }
}

/**
 * The identity of a peer: its address and, on a TLS socket whose certificate was verified, the
 * certificate's subject and SANs.
 */
export function peerIdentity(socket: { readonly remoteAddress?: string | undefined }): Identity {
  const address = socket.remoteAddress ?? '';
  const tlsSocket = socket as Partial<TLSSocket>;
  if (tlsSocket.encrypted !== true || tlsSocket.authorized !== true) return { address };
  const cert = tlsSocket.getPeerCertificate?.(false);
  return { address, certificate: certificateIdentity(cert) };
}
