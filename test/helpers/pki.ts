/**
 * Test-only certificates, generated at test time with the openssl CLI into a temporary folder
 * (no private key is ever committed): CAs, and leaf certificates signed by them with the subject
 * and subject alternative names a test asks for.
 */

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  /** The CA that signed it (its certificate file). */
  readonly ca: string;
}

export interface LeafOptions {
  /** `/CN=agent-1/O=Tenant A` (openssl -subj form). */
  readonly subject: string;
  /** `DNS:a.example,IP:::1,URI:spiffe://x` (openssl subjectAltName form). */
  readonly san?: string;
  /** Days valid (negative: already expired, via -not_after in the past is not portable; use 0). */
  readonly days?: number;
}

export class TestPki {
  private n = 0;

  private constructor(readonly dir: string) {}

  static async create(): Promise<TestPki> {
    return new TestPki(await mkdtemp(join(tmpdir(), 'tsbond-pki-')));
  }

  /** A self-signed CA; returns the paths of its certificate and key. */
  async ca(name: string): Promise<{ cert: string; key: string }> {
    const cert = join(this.dir, `${name}.crt`);
    const key = join(this.dir, `${name}.key`);
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.dir,
    );
    return { cert, key };
  }

  /** A leaf certificate signed by `ca`, usable for both TLS server and client authentication. */
  async leaf(ca: { cert: string; key: string }, o: LeafOptions): Promise<CertFiles> {
    const id = `leaf${String(++this.n)}`;
    const key = join(this.dir, `${id}.key`);
    const csr = join(this.dir, `${id}.csr`);
    const cert = join(this.dir, `${id}.crt`);
    const ext = join(this.dir, `${id}.ext`);
    const lines = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
    ];
    if (o.san !== undefined) lines.push(`subjectAltName=${o.san}`);
    await writeFile(ext, `${lines.join('\n')}\n`);
    await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        csr,
        '-subj',
        o.subject,
      ],
      this.dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        String(o.days ?? 2),
        '-extfile',
        ext,
      ],
      this.dir,
    );
    return { cert, key, ca: ca.cert };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
