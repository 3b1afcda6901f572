import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { MetalBondError } from '../../src/errors.js';
import { formatIP } from '../../src/model/ip.js';
import { formatDestination } from '../../src/model/route.js';
import { validateUpdate } from '../../src/model/validate.js';
import { routeToUpdate } from '../../src/model/wire-route.js';
import { checkHello } from '../../src/session/handshake.js';
import { decodePayload } from '../../src/wire/decode.js';
import { encodeMessage } from '../../src/wire/encode.js';
import { FrameDecoder } from '../../src/wire/frame-decoder.js';
import type { Message } from '../../src/wire/messages.js';

interface GoldenVector {
  id: string;
  use: 'both' | 'decode' | 'reject';
  note: string;
  frame: string;
  message: Record<string, unknown>;
}

const fixture = fileURLToPath(new URL('../fixtures/golden-frames.json', import.meta.url));
const shared = fileURLToPath(new URL('../../../shared/spec/golden-frames.json', import.meta.url));

function load(path: string): GoldenVector[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { vectors: GoldenVector[] }).vectors;
}

const vectors = load(fixture);

function decodeFrame(hex: string): Message[] {
  const out: Message[] = [];
  new FrameDecoder().feed(Buffer.from(hex, 'hex'), (type, buf, start, end) => {
    out.push(decodePayload(type, buf, start, end));
  });
  return out;
}

const HOP_TYPES = ['STANDARD', 'NAT', 'LOADBALANCER_TARGET'];

/** The golden file's notation of a decoded message. */
function toGolden(m: Message): Record<string, unknown> {
  switch (m.type) {
    case 'HELLO':
      return { type: 'HELLO', keepaliveInterval: m.keepaliveInterval, isServer: m.isServer };
    case 'KEEPALIVE':
      return { type: 'KEEPALIVE' };
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE':
    case 'SYNCED':
      return { type: m.type, vni: m.vni };
    case 'REFUSED':
      return { type: m.type, kind: m.kind, vni: m.vni, reason: m.reason };
    case 'UPDATE': {
      const d = m.destination;
      const h = m.nextHop;
      assert.ok(d && h, 'golden UPDATEs carry destination and nextHop');
      return {
        type: 'UPDATE',
        action: m.action === 1 ? 'REMOVE' : 'ADD',
        vni: m.vni,
        destination: `${formatIP(d.prefix)}/${String(d.prefixLength)}`,
        nextHop: {
          targetAddress: formatIP(h.targetAddress),
          targetVni: h.targetVni,
          type: HOP_TYPES[h.type] ?? String(h.type),
          natPortRangeFrom: h.natPortRangeFrom,
          natPortRangeTo: h.natPortRangeTo,
        },
      };
    }
  }
}

/** Builds the wire message a golden description stands for (for encoding). */
function fromGolden(g: Record<string, unknown>): Message {
  const type = g.type as Message['type'];
  switch (type) {
    case 'HELLO':
      return {
        type,
        keepaliveInterval: g.keepaliveInterval as number,
        isServer: g.isServer as boolean,
      };
    case 'KEEPALIVE':
      return { type };
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE':
    case 'SYNCED':
      return { type, vni: g.vni as number };
    case 'REFUSED':
      return { type, kind: g.kind as number, vni: g.vni as number, reason: g.reason as string };
    case 'UPDATE': {
      const hop = g.nextHop as Record<string, unknown>;
      const hopType = hop.type as 'STANDARD' | 'NAT' | 'LOADBALANCER_TARGET';
      const [address = '', len = '0'] = (g.destination as string).split('/');
      return routeToUpdate(g.action as 'ADD' | 'REMOVE', g.vni as number, {
        destination: {
          family: address.includes(':') ? 6 : 4,
          address,
          prefixLength: Number(len),
        },
        nextHop: {
          address: hop.targetAddress as string,
          targetVni: hop.targetVni as number,
          type: hopType,
          natPortRangeFrom: hop.natPortRangeFrom as number,
          natPortRangeTo: hop.natPortRangeTo as number,
        },
      });
    }
  }
}

describe('golden frames (Go encoder output)', () => {
  it('the committed fixture is the shared spec file when that is present', (t) => {
    if (!existsSync(shared)) {
      t.skip(`no ${shared} beside the repository`);
      return;
    }
    assert.deepEqual(load(shared), vectors);
  });

  it('covers every use', () => {
    const uses = new Set(vectors.map((v) => v.use));
    assert.deepEqual([...uses].sort(), ['both', 'decode', 'reject']);
    assert.ok(vectors.length >= 25);
  });

  for (const v of vectors) {
    describe(`${v.id} (${v.use}): ${v.note}`, () => {
      if (v.use === 'both') {
        it('encodes byte-exact', () => {
          assert.equal(encodeMessage(fromGolden(v.message)).toString('hex'), v.frame);
        });
      }
      if (v.use === 'both' || v.use === 'decode') {
        it('decodes to the message', () => {
          const msgs = decodeFrame(v.frame);
          assert.equal(msgs.length, 1);
          const [m] = msgs;
          assert.ok(m);
          assert.deepEqual(toGolden(m), v.message);
          if (m.type === 'UPDATE') {
            const u = validateUpdate(m);
            assert.equal(formatDestination(u.route.destination), v.message.destination);
          }
          if (m.type === 'HELLO') checkHello(m);
        });
      }
      if (v.use === 'reject') {
        it('is refused by the receiver with a typed error', () => {
          const [m] = decodeFrame(v.frame);
          assert.ok(m);
          assert.throws(
            () => {
              if (m.type === 'UPDATE') validateUpdate(m);
              else if (m.type === 'HELLO') checkHello(m);
            },
            (e: unknown) => e instanceof MetalBondError,
          );
        });
      }
    });
  }

  it('U10: ports of a non-NAT hop are dropped from the route and never encoded', () => {
    const u10r = vectors.find((v) => v.id === 'U10r');
    const u10 = vectors.find((v) => v.id === 'U10');
    assert.ok(u10r && u10);
    const [m] = decodeFrame(u10r.frame);
    assert.ok(m?.type === 'UPDATE');
    const u = validateUpdate(m);
    assert.equal(u.route.nextHop.natPortRangeFrom, 0);
    assert.equal(encodeMessage(routeToUpdate(u.action, u.vni, u.route)).toString('hex'), u10.frame);
  });
});
