/**
 * What the in-process decoder target checks for every input:
 * - only typed MetalBondErrors come out (ProtocolError, InvalidUpdateError), never a TypeError,
 *   RangeError or anything else;
 * - reassembly does not depend on how the stream is split (fed in random chunks and whole: the
 *   same frames and the same error);
 * - the server's canonical fast path (src/wire/canonical-fast.ts) agrees with the general decoder
 *   (decode.ts + validate.ts): whatever it accepts the general path accepts with the same action,
 *   VNI and route key, and it accepts every valid UPDATE whose bytes are already canonical.
 */

import { MetalBondError } from '../../src/errors.js';
import { fieldsInvalidReason, fieldsRouteKey, validateUpdate } from '../../src/model/validate.js';
import { canonicalUpdateKeyStart, fastResult } from '../../src/wire/canonical-fast.js';
import { UpdateFields, decodePayload } from '../../src/wire/decode.js';
import { encodeUpdate } from '../../src/wire/encode.js';
import { FrameDecoder } from '../../src/wire/frame-decoder.js';
import { MessageType, type Message } from '../../src/wire/messages.js';

/** A violated expectation (not a MetalBondError: it must never be mistaken for one). */
export class FuzzViolation extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FuzzViolation';
  }
}

export function describeError(e: unknown): string {
  if (e instanceof Error)
    return `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  return String(e);
}

/** Throws FuzzViolation unless `e` is a typed tsbond error. */
export function expectTyped(e: unknown, where: string): MetalBondError {
  if (e instanceof MetalBondError) return e;
  throw new FuzzViolation(`${where}: untyped error escaped: ${describeError(e)}`, { cause: e });
}

export interface DecoderStats {
  inputs: number;
  frames: number;
  streamErrors: number;
  payloadErrors: number;
  updates: number;
  validUpdates: number;
  invalidUpdates: number;
  fastAccepted: number;
  extensionFrames: number;
}

function fnv(h: number, b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ (b[i] ?? 0), 16777619);
  return h >>> 0;
}

export class DecoderOracle {
  readonly stats: DecoderStats = {
    inputs: 0,
    frames: 0,
    streamErrors: 0,
    payloadErrors: 0,
    updates: 0,
    validUpdates: 0,
    invalidUpdates: 0,
    fastAccepted: 0,
    extensionFrames: 0,
  };
  private readonly fields = new UpdateFields();
  private hash = 0;
  private count = 0;

  private readonly onFrame = (type: number, buf: Buffer, start: number, end: number): void => {
    this.count++;
    this.hash = fnv(Math.imul(this.hash ^ type, 16777619), buf, start, end);
    this.checkFrame(type, buf, start, end);
  };

  private readonly onFrameHashOnly = (
    type: number,
    buf: Buffer,
    start: number,
    end: number,
  ): void => {
    this.count++;
    this.hash = fnv(Math.imul(this.hash ^ type, 16777619), buf, start, end);
  };

  /** Checks one input, fed as `parts` (its split) and whole. Throws FuzzViolation. */
  check(input: Buffer, parts: readonly Buffer[]): void {
    this.stats.inputs++;
    // Every other input goes to a decoder that negotiated the extension messages (SYNCED,
    // REFUSED): their payload decoders are fuzzed too, and unnegotiated ones still refused.
    const extensions = (this.stats.inputs & 1) === 0;
    const a = this.run(parts, this.onFrame, extensions);
    if (parts.length > 1) {
      const b = this.run([input], this.onFrameHashOnly, extensions);
      if (a.hash !== b.hash || a.count !== b.count || a.error !== b.error) {
        throw new FuzzViolation(
          `reassembly depends on the split: ${String(parts.length)} chunks gave ${String(a.count)} frames / ${a.error ?? 'no error'}, whole gave ${String(b.count)} / ${b.error ?? 'no error'}`,
        );
      }
    }
    if (a.error !== undefined) this.stats.streamErrors++;
  }

  private run(
    parts: readonly Buffer[],
    onFrame: (type: number, buf: Buffer, start: number, end: number) => void,
    extensions: boolean,
  ): { hash: number; count: number; error: string | undefined } {
    const d = new FrameDecoder();
    if (extensions) {
      d.allowType(MessageType.SYNCED);
      d.allowType(MessageType.REFUSED);
    }
    this.hash = 0x811c9dc5;
    this.count = 0;
    let error: string | undefined;
    for (const p of parts) {
      try {
        d.feed(p, onFrame);
      } catch (e) {
        if (e instanceof FuzzViolation) throw e;
        error = expectTyped(e, 'FrameDecoder.feed').message;
        break;
      }
    }
    return { hash: this.hash, count: this.count, error };
  }

  private checkFrame(type: number, buf: Buffer, start: number, end: number): void {
    const s = this.stats;
    s.frames++;
    if (type > MessageType.UPDATE) s.extensionFrames++;
    let m: Message | undefined;
    try {
      m = decodePayload(type, buf, start, end);
    } catch (e) {
      expectTyped(e, `decodePayload(type ${String(type)})`);
      s.payloadErrors++;
    }
    if (type === MessageType.UPDATE) this.checkUpdate(buf, start, end, m);
  }

  /** Checks an UPDATE payload `buf[start, end)` as a session handler receives it. */
  checkUpdatePayload(buf: Buffer, start: number, end: number): void {
    let m: Message | undefined;
    try {
      m = decodePayload(MessageType.UPDATE, buf, start, end);
    } catch (e) {
      expectTyped(e, 'decodePayload(UPDATE)');
    }
    this.checkUpdate(buf, start, end, m);
  }

  /**
   * The general decoder, validation and the canonical fast path agree on an UPDATE payload.
   * `m` is decodePayload's result (undefined: it threw a ProtocolError).
   */
  private checkUpdate(buf: Buffer, start: number, end: number, m: Message | undefined): void {
    const s = this.stats;
    s.updates++;
    // The general path on the parsed fields (what the server does when the fast path says no).
    let general: { action: number; vni: number; key: string } | undefined;
    let decodable = true;
    try {
      const f = this.fields.parse(buf, start, end);
      if (fieldsInvalidReason(f) === undefined) {
        general = { action: f.action, vni: f.vni, key: fieldsRouteKey(f) };
      }
    } catch (e) {
      expectTyped(e, 'UpdateFields.parse');
      decodable = false;
    }
    if (decodable !== (m !== undefined)) {
      throw new FuzzViolation('UpdateFields.parse and decodePayload disagree on decodability');
    }
    if (m?.type === 'UPDATE') {
      try {
        validateUpdate(m);
        if (general === undefined)
          throw new FuzzViolation('validateUpdate accepts what fieldsInvalidReason refuses');
        s.validUpdates++;
      } catch (e) {
        if (e instanceof FuzzViolation) throw e;
        expectTyped(e, 'validateUpdate');
        if (general !== undefined)
          throw new FuzzViolation('validateUpdate refuses what fieldsInvalidReason accepts');
        s.invalidUpdates++;
      }
    }
    const k = canonicalUpdateKeyStart(buf, start, end);
    if (k >= 0) {
      s.fastAccepted++;
      const key = buf.toString('latin1', k, end);
      if (general === undefined) {
        throw new FuzzViolation(
          'canonical fast path accepts an UPDATE the general decoder refuses',
        );
      }
      if (
        general.action !== fastResult.action ||
        general.vni !== fastResult.vni ||
        general.key !== key
      ) {
        throw new FuzzViolation(
          `canonical fast path disagrees: fast ${String(fastResult.action)}/${String(fastResult.vni)}, general ${String(general.action)}/${String(general.vni)}, keys ${general.key === key ? 'equal' : 'differ'}`,
        );
      }
    } else if (general !== undefined && m?.type === 'UPDATE') {
      // Valid: if its bytes are exactly what the canonical encoder writes, the fast path must take it.
      const canonical = encodeUpdate(m);
      if (canonical.length - 4 === end - start && canonical.compare(buf, start, end, 4) === 0) {
        throw new FuzzViolation('canonical fast path refuses a valid UPDATE in canonical form');
      }
    }
  }
}
