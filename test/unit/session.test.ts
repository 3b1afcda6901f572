/** Session driven in-process through a fake socket: send path, budget, keepalive reply, errors. */

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';

import type { MetalBondError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { SOCKET_BUDGET, Session, type SessionHandler } from '../../src/session/session.js';
import { encodeHello, encodeKeepalive } from '../../src/wire/encode.js';
import { MessageType } from '../../src/wire/messages.js';
import { updateFrame } from '../../src/wire/route-key.js';
import { canonicalRoute } from '../../src/model/wire-route.js';
import { route } from '../../src/model/route.js';

/** The socket members a Session uses; writes are kept, nothing drains unless told. */
class FakeSocket extends EventEmitter {
  remoteAddress = '::1';
  remotePort = 1234;
  localAddress = '::1';
  localPort = 4711;
  writableLength = 0;
  readonly written: Buffer[] = [];
  destroyed = false;
  paused = false;
  write(b: Uint8Array): boolean {
    this.written.push(Buffer.from(b));
    this.writableLength += b.length;
    return this.writableLength < 16384;
  }
  cork(): void {
    /* coalescing is the kernel's business here */
  }
  uncork(): void {
    /* idem */
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  /** The kernel took everything: 'drain'. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
  /** Frame types written, in order. */
  types(): number[] {
    const out: number[] = [];
    const all = Buffer.concat(this.written);
    for (let p = 0; p + 4 <= all.length; p += 4 + all.readUInt16BE(p + 1))
      out.push(all[p + 3] ?? 0);
    return out;
  }
}

function serverSession(handler: Partial<SessionHandler> = {}): {
  session: Session;
  socket: FakeSocket;
  closed: (MetalBondError | undefined)[];
} {
  const socket = new FakeSocket();
  const closed: (MetalBondError | undefined)[] = [];
  const session = new Session(
    socket as unknown as Socket,
    {
      onEstablished: () => undefined,
      onUpdate: () => undefined,
      onClose: (_s, e) => closed.push(e),
      ...handler,
    },
    { role: 'server', keepaliveSeconds: 5, logger: silentLogger() },
  );
  session.start();
  socket.emit('data', encodeHello(5, false, 7));
  socket.emit('data', encodeKeepalive());
  assert.equal(session.state, 'ESTABLISHED');
  socket.written.length = 0;
  socket.writableLength = 0;
  return { session, socket, closed };
}

const frame = updateFrame(canonicalRoute(1, route('10.0.0.0/24', '2001:db8::1')).key, false);

/** Lets the flush scheduler (setImmediate) run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Session send path', () => {
  it('hands the socket at most about the budget beyond what it drained; the rest on drain', async () => {
    const { session, socket } = serverSession();
    const n = Math.ceil((3 * SOCKET_BUDGET) / frame.length);
    const big = Buffer.concat(Array.from({ length: n }, () => frame));
    session.send(big, n);
    await turn();
    assert.ok(socket.writableLength <= SOCKET_BUDGET + frame.length, String(socket.writableLength));
    assert.ok(socket.writableLength >= SOCKET_BUDGET - frame.length);
    assert.equal(session.queuedBytes, big.length - socket.writableLength);
    socket.drain();
    await turn();
    socket.drain();
    await turn();
    socket.drain();
    await turn();
    assert.equal(session.queuedBytes, 0);
    assert.equal(Buffer.concat(socket.written).length, big.length);
    assert.equal(
      session.stats.bytesOut,
      big.length + 12,
      'the handshake (12 bytes) and the frames',
    );
  });

  it('a KEEPALIVE reply goes ahead of everything not yet handed to the socket', async () => {
    const { session, socket } = serverSession();
    const n = Math.ceil((3 * SOCKET_BUDGET) / frame.length);
    session.send(Buffer.concat(Array.from({ length: n }, () => frame)), n);
    await turn();
    const handed = socket.types().length;
    socket.emit('data', encodeKeepalive());
    const types = socket.types();
    assert.equal(types.length, handed + 1);
    assert.equal(types.at(-1), MessageType.KEEPALIVE, 'the reply follows what was handed over');
    assert.ok(session.queuedBytes > SOCKET_BUDGET, 'ahead of what is still queued');
  });

  it('asks its owner for more when the queue is empty and there is room', async () => {
    let asked = 0;
    const { socket } = serverSession({
      onWritable: (s, room) => {
        asked++;
        assert.ok(room > 0 && room <= SOCKET_BUDGET);
        if (asked <= 3) s.send(frame);
        return asked < 3;
      },
    });
    socket.emit('drain');
    await turn();
    await turn();
    assert.ok(asked >= 3);
    assert.equal(socket.types().filter((t) => t === MessageType.UPDATE).length, 3);
  });
});

describe('Session errors', () => {
  it("a handler's own failure is an INTERNAL error, not the peer's protocol error", () => {
    const { socket, closed } = serverSession({
      onSubscribe: () => {
        throw new TypeError('bug');
      },
    });
    socket.emit('data', Buffer.from('0100020308 01'.replace(' ', ''), 'hex'));
    assert.equal(closed.length, 1);
    assert.equal(closed[0]?.code, 'INTERNAL');
    assert.equal(socket.destroyed, true);
  });

  it('a bad frame from the peer is a PROTOCOL error; onChunkEnd still runs', () => {
    let ends = 0;
    const { socket, closed } = serverSession({
      onChunkEnd: () => {
        ends++;
      },
    });
    const before = ends;
    socket.emit('data', Buffer.from('01000009', 'hex'));
    assert.equal(closed[0]?.code, 'PROTOCOL');
    assert.equal(ends, before + 1);
  });

  it('type 100 (SYNCED) from a client is a protocol error even after negotiating the features', () => {
    const { socket, closed } = serverSession();
    socket.emit('data', Buffer.from('0100026408 64'.replace(' ', ''), 'hex'));
    assert.equal(closed[0]?.code, 'PROTOCOL');
  });
});
