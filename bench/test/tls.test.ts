/**
 * The generator's TLS path (bench/lib/tls-certs.ts, RawConn over tls.connect) against the
 * forwarder listening for mutual TLS: certificates made with the openssl CLI, a route announced
 * by one TLS client reaches the other, a client without a certificate is refused.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { probeFrame } from '../lib/frames.js';
import { forkTs, waitExit } from '../lib/procs.js';
import { RawConn, type ConnOptions } from '../lib/raw-conn.js';
import { generateTlsFiles, opensslAvailable, type TlsFiles } from '../lib/tls-certs.js';

const HOST = '::1';
const haveOpenssl = opensslAvailable();

describe(
  'fan-out over mutual TLS (forwarder)',
  { skip: !haveOpenssl && 'openssl CLI missing' },
  () => {
    let dir = '';
    let files: TlsFiles;
    let fwd: ChildProcess;
    let port = 0;
    const conns: RawConn[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tsbond-bench-tls-test-'));
      files = generateTlsFiles(dir, 2);
      fwd = forkTs('bench/forwarder.ts', [
        '--listen',
        `[${HOST}]:0`,
        '--tls-cert',
        files.server.cert,
        '--tls-key',
        files.server.key,
        '--tls-ca',
        files.ca,
      ]);
      port = await new Promise<number>((resolve, reject) => {
        fwd.once('message', (m: unknown) => {
          resolve(Number((m as { port?: unknown }).port));
        });
        fwd.once('exit', (code) => {
          reject(new Error(`forwarder exited with ${String(code)}`));
        });
      });
    });

    after(async () => {
      for (const c of conns) c.close();
      fwd.kill('SIGTERM');
      await waitExit(fwd, 5000);
      rmSync(dir, { recursive: true, force: true });
    });

    const options = (client: number | undefined): ConnOptions => ({
      host: HOST,
      port,
      keepalive: 5,
      keepaliveEveryMs: 2000,
      timeoutMs: 10_000,
      features: 1,
      tls: {
        ca: readFileSync(files.ca),
        ...(client === undefined
          ? {}
          : {
              cert: readFileSync(files.clients[client]?.cert ?? ''),
              key: readFileSync(files.clients[client]?.key ?? ''),
            }),
      },
    });

    it('makes certificates the server and clients accept, and carries updates', async () => {
      const a = await RawConn.open('a', options(0));
      conns.push(a);
      const b = await RawConn.open('b', options(1));
      conns.push(b);
      a.socket.write(probeFrame(100, 0, false));
      await b.waitFor(() => b.counter.adds >= 1, 10_000, 'the probe ADD over TLS');
      a.socket.write(probeFrame(100, 0, true));
      await b.waitFor(() => b.counter.removes >= 1, 10_000, 'the probe REMOVE over TLS');
      assert.equal(b.counter.adds, 1);
      assert.equal(b.counter.removes, 1);
      assert.equal(a.lost, undefined);
    });

    it('is refused without a client certificate', async () => {
      await assert.rejects(RawConn.open('anonymous', options(undefined)), /certificate required/);
    });

    it('is refused when the server is not verified by the CA given', async () => {
      const o = options(0);
      const tls = { ...(o.tls ?? { ca: '' }), ca: readFileSync(files.clients[0]?.cert ?? '') };
      await assert.rejects(
        RawConn.open('wrong-ca', { ...o, tls }),
        /self-signed certificate|unable to verify/,
      );
    });
  },
);
