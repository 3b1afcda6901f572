/**
 * In-process fuzz targets.
 * - decoder: FrameDecoder + decodePayload + validateUpdate + the canonical fast path (oracle.ts);
 * - session: a real Session (either role) on a FakeSocket, fed the input in random chunks, then
 *   closed by the peer (FIN, reset), by itself (timers with millisecond keepalives) or locally.
 *   Checked: nothing untyped comes out (no exception escapes the socket's event, no handler or
 *   codec failure hides behind the ProtocolError a session closes with), handlers are only
 *   called while ESTABLISHED, everything the session writes is a valid frame of its role, in
 *   order (HELLO first, then only KEEPALIVEs), nothing is written after the socket is destroyed.
 */

import type { Socket } from 'node:net';

import type { MetalBondError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Session, type SessionHandler } from '../../src/session/session.js';
import { SessionState } from '../../src/session/state.js';
import { decodePayload } from '../../src/wire/decode.js';
import { FrameDecoder } from '../../src/wire/frame-decoder.js';
import type { Role } from './corpus.js';
import { FakeSocket } from './fake-socket.js';
import { InputGenerator, chunks, type FuzzInput } from './mutate.js';
import { DecoderOracle, FuzzViolation, describeError, type DecoderStats } from './oracle.js';
import { Rng } from './rng.js';

export interface Finding {
  readonly target: string;
  readonly seed: number;
  readonly index: number;
  readonly generator: string;
  readonly error: string;
  /** The input, hex (first 2 KiB). */
  readonly input: string;
}

export interface Budget {
  /** Stop after this many inputs. */
  readonly count: number;
  /** Stop after this many seconds. */
  readonly seconds: number;
  /** Stop at the first findings (collect at most this many). */
  readonly maxFindings: number;
}

export interface MemorySample {
  readonly heapStartMB: number;
  readonly heapMaxMB: number;
  readonly heapEndMB: number;
  readonly rssMaxMB: number;
}

export interface TargetResult {
  readonly target: string;
  readonly seed: number;
  readonly inputs: number;
  readonly seconds: number;
  readonly inputsPerSecond: number;
  readonly generators: Record<string, number>;
  readonly stats: Record<string, number>;
  readonly memory: MemorySample;
  readonly findings: Finding[];
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapMB(): number {
  gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}

class MemoryTracker {
  readonly start = heapMB();
  max = this.start;
  rssMax = process.memoryUsage().rss / 1048576;
  sample(): void {
    const h = heapMB();
    if (h > this.max) this.max = h;
    const r = process.memoryUsage().rss / 1048576;
    if (r > this.rssMax) this.rssMax = r;
  }
  result(): MemorySample {
    const end = heapMB();
    const round = (x: number): number => Math.round(x * 10) / 10;
    return {
      heapStartMB: round(this.start),
      heapMaxMB: round(Math.max(this.max, end)),
      heapEndMB: round(end),
      rssMaxMB: round(this.rssMax),
    };
  }
}

/** Heap growth (after GC) above this over a run is a finding: memory must stay bounded. */
export const HEAP_GROWTH_LIMIT_MB = 64;

function memoryFinding(target: string, seed: number, m: MemorySample): Finding[] {
  const growth = m.heapEndMB - m.heapStartMB;
  if (growth <= HEAP_GROWTH_LIMIT_MB) return [];
  return [
    {
      target,
      seed,
      index: -1,
      generator: '-',
      error: `heap grew by ${String(Math.round(growth))} MB over the run (limit ${String(HEAP_GROWTH_LIMIT_MB)} MB)`,
      input: '',
    },
  ];
}

function finding(
  target: string,
  seed: number,
  index: number,
  input: FuzzInput,
  e: unknown,
): Finding {
  return {
    target,
    seed,
    index,
    generator: input.generator,
    error: describeError(e),
    input: input.bytes.subarray(0, 2048).toString('hex'),
  };
}

const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- decoder ----

export async function fuzzDecoder(seed: number, budget: Budget): Promise<TargetResult> {
  const rng = new Rng(seed);
  const gens = [new InputGenerator(rng, 'client'), new InputGenerator(rng, 'server')];
  const oracle = new DecoderOracle();
  const mem = new MemoryTracker();
  const findings: Finding[] = [];
  const t0 = performance.now();
  const deadline = t0 + budget.seconds * 1000;
  let i = 0;
  // Stack traces of the (many) expected ProtocolErrors cost more than the decoding: off, and on
  // again to replay an input that gave a finding.
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  while (i < budget.count && findings.length < budget.maxFindings) {
    const input = (gens[i & 1] as InputGenerator).next();
    const parts = chunks(rng, input.bytes);
    try {
      oracle.check(input.bytes, parts);
    } catch (e) {
      Error.stackTraceLimit = stackLimit;
      let detail = e;
      try {
        new DecoderOracle().check(input.bytes, parts);
      } catch (again) {
        detail = again;
      }
      Error.stackTraceLimit = 0;
      findings.push(finding('decoder', seed, i, input, detail));
    }
    i++;
    if ((i & 0x3fff) === 0) {
      if ((i & 0x3fffff) === 0) mem.sample();
      if (performance.now() > deadline) break;
      await yieldLoop();
    }
  }
  Error.stackTraceLimit = stackLimit;
  const memory = mem.result();
  const seconds = (performance.now() - t0) / 1000;
  return {
    target: 'decoder',
    seed,
    inputs: i,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSecond: Math.round(i / seconds),
    generators: sumCounts(gens.map((g) => g.counts)),
    stats: { ...oracle.stats } as unknown as Record<string, number>,
    memory,
    findings: [...findings, ...memoryFinding('decoder', seed, memory)],
  };
}

function sumCounts(list: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of list) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}

// ---- session ----

interface SessionStats {
  sessions: number;
  established: number;
  closedProtocol: number;
  closedTimeout: number;
  closedIo: number;
  closedLocal: number;
  handlerUpdates: number;
  handlerSubscribes: number;
  bytesWritten: number;
}

interface Case {
  readonly index: number;
  readonly input: FuzzInput;
  readonly socket: FakeSocket;
  readonly session: Session;
  readonly role: Role;
  readonly keepalive: number;
  violation: Error | undefined;
}

/** Checks what a session wrote: valid frames of its role, HELLO first, then only KEEPALIVEs. */
function checkOutput(c: Case, bytes: Buffer): void {
  const d = new FrameDecoder();
  let n = 0;
  d.feed(bytes, (type, buf, start, end) => {
    const m = decodePayload(type, buf, start, end);
    if (n === 0) {
      if (m.type !== 'HELLO')
        throw new FuzzViolation(`first frame written is ${m.type}, not HELLO`);
      if (m.isServer !== (c.role === 'server'))
        throw new FuzzViolation(`HELLO written with isServer ${String(m.isServer)} by a ${c.role}`);
      if (
        c.role === 'client'
          ? m.keepaliveInterval !== c.keepalive
          : m.keepaliveInterval < 1 || m.keepaliveInterval > c.keepalive
      )
        throw new FuzzViolation(
          `HELLO written with keepalive ${String(m.keepaliveInterval)} (own ${String(c.keepalive)})`,
        );
    } else if (m.type !== 'KEEPALIVE') {
      throw new FuzzViolation(`frame ${String(n)} written is ${m.type}`);
    }
    n++;
  });
  if (d.bufferedBytes !== 0) throw new FuzzViolation('a partial frame was written');
}

export async function fuzzSession(
  seed: number,
  budget: Budget,
  stacks = false,
  batch = 128,
): Promise<TargetResult> {
  const rng = new Rng(seed);
  // Inputs for a server-role session come from a client, and the other way round.
  const gens = {
    server: new InputGenerator(rng, 'client'),
    client: new InputGenerator(rng, 'server'),
  };
  const oracle = new DecoderOracle();
  const mem = new MemoryTracker();
  const findings: Finding[] = [];
  const logger = silentLogger();
  const stats: SessionStats = {
    sessions: 0,
    established: 0,
    closedProtocol: 0,
    closedTimeout: 0,
    closedIo: 0,
    closedLocal: 0,
    handlerUpdates: 0,
    handlerSubscribes: 0,
    bytesWritten: 0,
  };
  const expectEstablished = (s: Session, what: string): void => {
    if (s.state !== SessionState.ESTABLISHED)
      throw new FuzzViolation(`${what} handed to the handler in state ${s.state}`);
  };
  // Why each session closed (undefined: a local close), as the handler is told.
  const closeErrors = new WeakMap<Session, MetalBondError | undefined>();
  const handler: SessionHandler = {
    onEstablished: (s) => {
      expectEstablished(s, 'onEstablished');
      stats.established++;
    },
    onSubscribe: (s) => {
      expectEstablished(s, 'SUBSCRIBE');
      stats.handlerSubscribes++;
    },
    onUnsubscribe: (s) => {
      expectEstablished(s, 'UNSUBSCRIBE');
    },
    onUpdate: (s, buf, start, end) => {
      expectEstablished(s, 'UPDATE');
      stats.handlerUpdates++;
      oracle.checkUpdatePayload(buf, start, end);
    },
    onClose: (s, error) => {
      closeErrors.set(s, error);
    },
  };
  const t0 = performance.now();
  const deadline = t0 + budget.seconds * 1000;
  let i = 0;
  let pending: Case[] = [];
  // Stack traces of the (many) expected errors are off unless asked for (--stacks): a finding
  // then names the error and its input, and a rerun with the seed gives the stack.
  const stackLimit = Error.stackTraceLimit;
  if (!stacks) Error.stackTraceLimit = 0;
  const finish = (c: Case): void => {
    try {
      if (c.violation !== undefined) throw c.violation;
      if (c.session.state !== SessionState.CLOSED) c.session.close();
      const err = closeErrors.get(c.session);
      // A failure that is not one of our typed errors closes the session with an InternalError
      // (code INTERNAL) carrying it as its cause: every such close is a finding.
      if (err?.code === 'INTERNAL')
        throw new FuzzViolation(
          `session closed on an untyped failure: ${describeError(err.cause)}`,
          {
            cause: err.cause,
          },
        );
      if (err === undefined) stats.closedLocal++;
      else if (err.code === 'PROTOCOL') stats.closedProtocol++;
      else if (err.code === 'TIMEOUT') stats.closedTimeout++;
      else stats.closedIo++;
      if (c.socket.writesAfterDestroy > 0)
        throw new FuzzViolation('session wrote to a destroyed socket');
      const out = c.socket.takeWritten();
      stats.bytesWritten += out.length;
      checkOutput(c, out);
    } catch (e) {
      if (findings.length < budget.maxFindings)
        findings.push(finding(`session-${c.role}`, seed, c.index, c.input, e));
    }
  };
  while (i < budget.count && findings.length < budget.maxFindings && performance.now() < deadline) {
    const cases: Case[] = [];
    for (let b = 0; b < batch && i < budget.count; b++, i++) {
      const role: Role = rng.chance(0.5) ? 'server' : 'client';
      const input = gens[role].next();
      const socket = new FakeSocket();
      const keepalive = rng.range(1, 5);
      const session = new Session(socket as unknown as Socket, handler, {
        role,
        keepaliveSeconds: keepalive,
        logger,
        // Server role: milliseconds for seconds, so that keepalive and handshake timeouts fire
        // within the run. Not for the client role: its KEEPALIVE timer writes straight to the
        // socket, which with a 1 ms "second" can come before the HELLO queued in the same turn
        // (impossible with real seconds).
        secondMs: role === 'server' ? rng.pick([1, 2, 5, 1000]) : 1000,
      });
      stats.sessions++;
      const c: Case = { index: i, input, socket, session, role, keepalive, violation: undefined };
      try {
        session.start();
        for (const part of chunks(rng, input.bytes)) socket.deliver(part);
        switch (rng.int(6)) {
          case 0:
            socket.peerEnd();
            break;
          case 1:
            socket.peerError();
            break;
          case 2:
            session.close();
            break;
          default:
          // Left open: flushed, and closed later by its timers or by finish().
        }
      } catch (e) {
        c.violation = new FuzzViolation(`exception escaped the socket event: ${describeError(e)}`, {
          cause: e,
        });
      }
      cases.push(c);
    }
    // Let queued frames flush and short timers fire, then check the previous batch.
    await yieldLoop();
    await new Promise((r) => setTimeout(r, 1));
    for (const c of pending) finish(c);
    pending = cases;
    if ((i & 0x3fff) < batch) mem.sample();
  }
  for (const c of pending) finish(c);
  await yieldLoop();
  Error.stackTraceLimit = stackLimit;
  const memory = mem.result();
  const seconds = (performance.now() - t0) / 1000;
  return {
    target: 'session',
    seed,
    inputs: i,
    seconds: Math.round(seconds * 10) / 10,
    inputsPerSecond: Math.round(i / seconds),
    generators: sumCounts([gens.server.counts, gens.client.counts]),
    stats: { ...stats, ...prefixed(oracle.stats) },
    memory,
    findings: [...findings, ...memoryFinding('session', seed, memory)],
  };
}

function prefixed(s: DecoderStats): Record<string, number> {
  return { updatesChecked: s.updates, validUpdates: s.validUpdates, fastAccepted: s.fastAccepted };
}
