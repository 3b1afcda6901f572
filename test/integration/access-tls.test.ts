/**
 * Mutual TLS pieces (src/access/tls.ts) over real loopback sockets, with certificates generated
 * at test time: who gets in, what identity the server sees, what rights the authorisation file
 * gives it, certificate reload, and a MetalBond session over the TLS socket.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  connect,
  createServer,
  type ConnectionOptions,
  type Server,
  type TLSSocket,
} from 'node:tls';

import { parseAuthorization } from '../../src/access/authorization.js';
import { TlsCredentials, clientTlsOptions, peerIdentity } from '../../src/access/tls.js';
import type { Identity } from '../../src/access/identity.js';
import { ParseError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Session } from '../../src/session/session.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { TestPki, type CertFiles } from '../helpers/pki.js';

interface Pki {
  pki: TestPki;
  ca1: { cert: string; key: string };
  ca2: { cert: string; key: string };
  server1: CertFiles;
  server2: CertFiles;
  agentA: CertFiles;
  agentB: CertFiles;
  rogue: CertFiles;
  agentA2: CertFiles;
}

let p: Pki;

before(async () => {
  const pki = await TestPki.create();
  const ca1 = await pki.ca('tsbond-test-ca-1');
  const ca2 = await pki.ca('tsbond-test-ca-2');
  const serverSan = 'IP:::1,IP:127.0.0.1,DNS:localhost';
  p = {
    pki,
    ca1,
    ca2,
    server1: await pki.leaf(ca1, { subject: '/CN=tsbond-server', san: serverSan }),
    server2: await pki.leaf(ca2, { subject: '/CN=tsbond-server', san: serverSan }),
    agentA: await pki.leaf(ca1, {
      subject: '/CN=agent-a/O=Tenant A',
      san: 'DNS:hv1.example.net,URI:spiffe://example.net/hv/1',
    }),
    agentB: await pki.leaf(ca1, { subject: '/CN=agent-b/O=Tenant B', san: 'IP:192.0.2.5' }),
    rogue: await pki.leaf(ca2, { subject: '/CN=agent-a/O=Tenant A', san: 'DNS:hv1.example.net' }),
    agentA2: await pki.leaf(ca2, { subject: '/CN=agent-a/O=Tenant A' }),
  };
});

after(async () => {
  await p.pki.remove();
});

interface Listener {
  server: Server;
  port: number;
  identities: Identity[];
  sockets: TLSSocket[];
  clientErrors: Error[];
}

async function listen(t: TestContext, creds: TlsCredentials): Promise<Listener> {
  const l: Listener = {
    server: createServer(creds.serverOptions(5000)),
    port: 0,
    identities: [],
    sockets: [],
    clientErrors: [],
  };
  l.server.on('secureConnection', (s: TLSSocket) => {
    l.sockets.push(s);
    l.identities.push(peerIdentity(s));
    s.on('error', () => undefined);
  });
  l.server.on('tlsClientError', (e) => {
    l.clientErrors.push(e);
  });
  l.server.listen(0, '::1');
  await once(l.server, 'listening');
  const a = l.server.address();
  l.port = typeof a === 'object' && a !== null ? a.port : 0;
  t.after(() => {
    for (const s of l.sockets) s.destroy();
    l.server.close();
  });
  return l;
}

/** Connects with the given options; resolves with the socket or rejects with the TLS error. */
async function dialWith(options: ConnectionOptions): Promise<TLSSocket> {
  const s = connect(options);
  try {
    await once(s, 'secureConnect');
    // TLS 1.3: the server's verdict on our certificate comes after the client's handshake ends;
    // a round trip shows whether the server kept the connection.
    s.write('x');
    const outcome = await Promise.race([
      once(s, 'data').then(() => 'data'),
      once(s, 'close').then(() => 'close'),
    ]);
    if (outcome === 'close') throw new Error('closed by the server');
  } catch (e) {
    s.destroy();
    throw e;
  }
  return s;
}

/** Connects with the given client files (mutual TLS). */
async function dial(
  port: number,
  files: { cert: string; key: string; ca: string },
): Promise<TLSSocket> {
  const creds = TlsCredentials.loadSync(files);
  return dialWith(clientTlsOptions(creds.context, '::1', port));
}

function echo(l: Listener): void {
  l.server.on('secureConnection', (s: TLSSocket) => {
    s.once('data', (d: Buffer) => s.write(d));
  });
}

describe('mutual TLS', () => {
  it('lets in a client with a certificate of the CA and reports its identity', async (t) => {
    const l = await listen(t, TlsCredentials.loadSync(p.server1));
    echo(l);
    const c = await dial(l.port, { ...p.agentA, ca: p.ca1.cert });
    t.after(() => c.destroy());
    assert.equal(l.identities.length, 1);
    const id = l.identities[0];
    assert.ok(id);
    assert.equal(id.address, '::1');
    assert.deepEqual(id.certificate?.subject, { CN: ['agent-a'], O: ['Tenant A'] });
    assert.deepEqual(id.certificate.san, [
      { type: 'DNS', value: 'hv1.example.net' },
      { type: 'URI', value: 'spiffe://example.net/hv/1' },
    ]);
  });

  it('maps certificate identities to rights with the authorisation file', async (t) => {
    const l = await listen(t, TlsCredentials.loadSync(p.server1));
    echo(l);
    const policy = parseAuthorization(`rules:
  - name: tenant-a
    match: { subject: "CN=agent-a,O=Tenant A" }
    announce: [100]
    subscribe: [100-199]
  - name: by-ip-san
    match: { ip: 192.0.2.0/24 }
    announce: [200]
    subscribe: [200]
  - name: loopback
    match: { cidr: "::1/128" }
    subscribe: [999]
`);
    const a = await dial(l.port, { ...p.agentA, ca: p.ca1.cert });
    const b = await dial(l.port, { ...p.agentB, ca: p.ca1.cert });
    t.after(() => {
      a.destroy();
      b.destroy();
    });
    const [ra, rb] = l.identities.map((id) => policy.rights(id));
    assert.ok(ra && rb);
    assert.deepEqual(ra.rules, ['tenant-a', 'loopback']);
    assert.ok(ra.mayAnnounce(100) && !ra.mayAnnounce(200) && ra.maySubscribe(150));
    assert.ok(ra.maySubscribe(999));
    assert.deepEqual(rb.rules, ['by-ip-san', 'loopback']);
    assert.ok(rb.mayAnnounce(200) && !rb.mayAnnounce(100));
  });

  it('refuses a client without a certificate, before any application byte', async (t) => {
    const l = await listen(t, TlsCredentials.loadSync(p.server1));
    echo(l);
    const ca = await readFile(p.ca1.cert);
    await assert.rejects(dialWith({ host: '::1', port: l.port, ca, rejectUnauthorized: true }));
    assert.equal(l.identities.length, 0, 'no secure connection reached the application');
    assert.ok(l.clientErrors.length >= 1);
  });

  it('refuses a client whose certificate another CA signed', async (t) => {
    const l = await listen(t, TlsCredentials.loadSync(p.server1));
    echo(l);
    await assert.rejects(dial(l.port, { ...p.rogue, ca: p.ca1.cert }));
    assert.equal(l.identities.length, 0);
    assert.ok(l.clientErrors.length >= 1);
  });

  it('a client refuses a server whose certificate its CA did not sign', async (t) => {
    const l = await listen(t, TlsCredentials.loadSync(p.server2));
    echo(l);
    await assert.rejects(dial(l.port, { ...p.agentA, ca: p.ca1.cert }), /certificate/i);
    assert.equal(l.identities.length, 0);
  });

  it('reloads the certificates: new connections use them, sessions up keep running', async (t) => {
    const dir = p.pki.dir;
    const files = {
      cert: join(dir, 'reload-server.crt'),
      key: join(dir, 'reload-server.key'),
      ca: join(dir, 'reload-ca.crt'),
    };
    await copyFile(p.server1.cert, files.cert);
    await copyFile(p.server1.key, files.key);
    await copyFile(p.ca1.cert, files.ca);
    const creds = TlsCredentials.loadSync(files);
    const l = await listen(t, creds);
    l.server.on('secureConnection', (s: TLSSocket) => {
      s.on('data', (d: Buffer) => s.write(d));
    });
    const old = await dial(l.port, { ...p.agentA, ca: p.ca1.cert });
    t.after(() => old.destroy());

    // A broken file: the reload fails, names the file, and what is in force stays.
    await writeFile(files.key, 'not a key');
    const bad = await creds.reload(l.server);
    assert.ok(!bad.ok && bad.error instanceof ParseError);
    const still = await dial(l.port, { ...p.agentA, ca: p.ca1.cert });
    still.destroy();

    // Rotate to CA 2.
    await copyFile(p.server2.cert, files.cert);
    await copyFile(p.server2.key, files.key);
    await copyFile(p.ca2.cert, files.ca);
    const ok = await creds.reload(l.server);
    assert.deepEqual(ok, { ok: true });
    await assert.rejects(dial(l.port, { ...p.agentA, ca: p.ca1.cert }));
    const fresh = await dial(l.port, { ...p.agentA2, ca: p.ca2.cert });
    fresh.destroy();

    // The session opened before the reload still works.
    old.write('ping');
    const [d] = (await once(old, 'data')) as [Buffer];
    assert.equal(d.toString(), 'ping');
  });

  it('names the file that cannot be read, and refuses a key of another certificate', () => {
    assert.throws(
      () => TlsCredentials.loadSync({ ...p.agentA, ca: '/nonexistent/ca.crt' }),
      (e: unknown) =>
        e instanceof ParseError && e.message.includes('TLS CA /nonexistent/ca.crt: no such file'),
    );
    assert.throws(
      () => TlsCredentials.loadSync({ cert: p.agentA.cert, key: p.agentB.key, ca: p.ca1.cert }),
      (e: unknown) =>
        e instanceof ParseError && e.message.includes('invalid TLS certificate, key or CA'),
    );
  });

  it('carries a MetalBond session (handshake through Session) over the TLS socket', async (t) => {
    const creds = TlsCredentials.loadSync(p.server1);
    const l = await listen(t, creds);
    const established: string[] = [];
    l.server.on('secureConnection', (s: TLSSocket) => {
      const session = new Session(
        s,
        {
          onEstablished: (x) => established.push(x.remoteAddress),
          onUpdate: () => undefined,
          onClose: () => undefined,
        },
        { role: 'server', keepaliveSeconds: 5, logger: silentLogger() },
      );
      session.start();
      t.after(() => {
        session.close();
      });
    });
    const sock = await dialRaw(l.port, { ...p.agentA, ca: p.ca1.cert });
    const peer = new RawPeer(sock);
    t.after(() => {
      peer.close();
    });
    const hello = await peer.handshake(3);
    assert.deepEqual(hello, { type: 'HELLO', keepaliveInterval: 3, isServer: true });
    await peer.barrier();
    assert.equal(established.length, 1);
  });
});

async function dialRaw(
  port: number,
  files: { cert: string; key: string; ca: string },
): Promise<TLSSocket> {
  const creds = TlsCredentials.loadSync(files);
  const s = connect(clientTlsOptions(creds.context, '::1', port));
  await once(s, 'secureConnect');
  return s;
}
