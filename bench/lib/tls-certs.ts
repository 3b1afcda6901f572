/**
 * Certificates for TLS runs, generated at run time with the `openssl` CLI (OpenSSL 3) into a
 * directory of the caller's: a CA, a server certificate for ::1, 127.0.0.1 and localhost, and
 * client certificates (CN `bench-client-N`, clientAuth), all ECDSA P-256, valid for 2 days, each
 * made by one `openssl req -x509` call from a minimal config file (so that no system
 * openssl.cnf default extension gets in).
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TlsFiles {
  readonly dir: string;
  /** The CA certificate both sides verify the other against. */
  readonly ca: string;
  readonly server: CertFiles;
  readonly clients: readonly CertFiles[];
}

const EXTENSIONS = {
  ca: ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign'],
  server: [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    'extendedKeyUsage = serverAuth',
    'subjectAltName = IP:::1,IP:127.0.0.1,DNS:localhost',
  ],
  client: [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    'extendedKeyUsage = clientAuth',
  ],
};

/** Whether the openssl CLI can be run. */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function makeCert(
  dir: string,
  name: string,
  cn: string,
  ext: readonly string[],
  ca: CertFiles | undefined,
): CertFiles {
  const cnf = join(dir, `${name}.cnf`);
  writeFileSync(
    cnf,
    ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = ${cn}`, '[ext]', ...ext, '']
      .map((l) => `${l}\n`)
      .join(''),
  );
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-config',
      cnf,
      '-extensions',
      'ext',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      ...(ca === undefined ? [] : ['-CA', ca.cert, '-CAkey', ca.key]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert, key };
}

/** Generates a CA, a server certificate and `clients` client certificates into `dir`. */
export function generateTlsFiles(dir: string, clients: number): TlsFiles {
  const ca = makeCert(dir, 'ca', 'tsbond-bench-ca', EXTENSIONS.ca, undefined);
  const server = makeCert(dir, 'server', 'localhost', EXTENSIONS.server, ca);
  const list = Array.from({ length: clients }, (_, i) =>
    makeCert(dir, `client-${String(i)}`, `bench-client-${String(i)}`, EXTENSIONS.client, ca),
  );
  return { dir, ca: ca.cert, server, clients: list };
}
