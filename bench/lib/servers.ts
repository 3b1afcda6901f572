/**
 * The servers under test, each in its own process on [::1] with a free port:
 * - tsbond: bench/tsbond-server-probe.ts (`tsbond server` itself, default flags unless
 *   `serverFlags` are given, plus an IPC probe);
 * - go: Go MetalBond v0.5.0 (`.peers/metalbond server`), logging at its default info level;
 * - rust: rustbond 0.1.3's MetalBondServer through our driver (`.peers/rustbond-peer server`);
 * - forwarder: bench/forwarder.ts, the do-nothing ceiling.
 */

import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

import { REPO_ROOT, forkTs, freePort, procRss, rssBytes, spawnTracked, waitExit } from './procs.js';
import { goLogSummary, rustLogSummary, tsbondLogSummary } from './server-logs.js';

export const SERVER_KINDS = ['tsbond', 'go', 'rust', 'forwarder'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export const SERVER_LABEL: Record<ServerKind, string> = {
  tsbond: 'tsbond',
  go: 'Go MetalBond 0.5.0',
  rust: 'rustbond 0.1.3',
  forwarder: 'forwarder (ceiling)',
};

export const HOST = '::1';
/** Where test/interop/build-peers.sh puts the reference peers (TSBOND_PEERS_DIR, as the tests). */
export const PEERS_DIR = process.env.TSBOND_PEERS_DIR ?? join(REPO_ROOT, '.peers');
export const GO_BIN = join(PEERS_DIR, 'metalbond');
export const RUST_BIN = join(PEERS_DIR, 'rustbond-peer');

export interface MemorySample {
  readonly rss: number;
  /** V8 heap (tsbond only), after a full GC. */
  readonly heapUsed?: number;
  readonly external?: number;
  readonly arrayBuffers?: number;
}

export interface RunningServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /**
   * The server's command-line flags beyond listen address and keepalive (tsbond: flags of
   * `tsbond server`; [] = its defaults).
   */
  readonly flags: readonly string[];
  /** When the server was listening (ms since the epoch). */
  readonly listeningAt: number;
  /** tsbond: the port of `--http` (status page, API, /metrics), when given. */
  readonly httpPort?: number | undefined;
  /** tsbond: the port of `--metrics` (/metrics, /healthz, /readyz only), when given. */
  readonly metricsPort?: number | undefined;
  memory(): Promise<MemorySample>;
  /** Routes in the server's table, when it can tell. */
  routeCount(): Promise<number | undefined>;
  /** RSS now, and (tsbond) the largest outbound queue of any peer, for sampling under load. */
  sample(): Promise<{ rss: number; maxQueuedBytes?: number | undefined }>;
  /** tsbond: the server's resolved configuration (JSON); others: undefined. */
  config(): Promise<unknown>;
  /** RSS now and its peak so far (VmRSS, VmHWM from /proc/PID/status). */
  rssNow(): { rss: number; hwm: number } | undefined;
  /** Whether the process is still running. */
  alive(): boolean;
  /** SIGKILL now (a safety stop, e.g. memory running away). */
  kill(): void;
  /** Counted warnings from the server's log (Go), e.g. resets. */
  logSummary(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly keepalive: number;
  /** tsbond: write a V8 CPU profile to this directory. */
  readonly cpuProfileDir?: string | undefined;
  /** Directory for server logs. */
  readonly logDir: string;
  /** Go: send its (per-route, info-level) log to /dev/null instead of a file. */
  readonly goLogNull?: boolean | undefined;
  /**
   * tsbond: flags of `tsbond server` added to the defaults (e.g. ['--no-pacing']); forwarder:
   * flags of bench/forwarder.ts (e.g. its TLS files).
   */
  readonly serverFlags?: readonly string[] | undefined;
}

export function peerAvailable(kind: ServerKind): boolean {
  if (kind === 'go') return existsSync(GO_BIN);
  if (kind === 'rust') return existsSync(RUST_BIN);
  return true;
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

async function waitFor<T>(what: string, ms: number, f: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A forked Node process answering `{seq, op}` requests with `{seq, ...}` messages. */
class IpcClient {
  private seq = 1;
  private readonly pending = new Map<number, (m: Record<string, unknown>) => void>();
  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: unknown) => {
      if (typeof m !== 'object' || m === null) return;
      const r = m as Record<string, unknown>;
      const seq = r.seq;
      if (typeof seq !== 'number') return;
      const f = this.pending.get(seq);
      this.pending.delete(seq);
      f?.(r);
    });
  }

  async request(op: string, ms = 60_000): Promise<Record<string, unknown>> {
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`probe '${op}' timed out`));
      }, ms);
      this.pending.set(seq, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.child.send({ seq, op });
    });
  }
}

/** Waits until a TCP connect to [::1]:port succeeds (then closes that connection at once). */
export async function waitListening(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: HOST, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${String(port)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Listening {
  readonly port: number;
  readonly listeningAt: number;
  readonly httpPort: number | undefined;
  readonly metricsPort: number | undefined;
}

async function listeningMessage(c: ChildProcess, what: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      reject(new Error(`${what} did not start within 30 s`));
    }, 30_000);
    c.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { event?: unknown }).event === 'listening') {
        clearTimeout(t);
        const x = m as { port?: unknown; listeningAt?: unknown; http?: unknown; metrics?: unknown };
        const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
        resolve({
          port: Number(x.port),
          listeningAt: num(x.listeningAt) ?? Date.now(),
          httpPort: num(x.http),
          metricsPort: num(x.metrics),
        });
      }
    });
    c.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited with ${String(code)} before listening`));
    });
  });
}

async function startTsbond(o: StartOptions): Promise<RunningServer> {
  const flags = ['--expose-gc'];
  if (o.cpuProfileDir !== undefined) {
    mkdirSync(o.cpuProfileDir, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  }
  mkdirSync(o.logDir, { recursive: true });
  const logFile = join(o.logDir, `tsbond-${String(Date.now())}.log`);
  const fd = openSync(logFile, 'w');
  const serverFlags = [...(o.serverFlags ?? [])];
  const c = forkTs(
    'bench/tsbond-server-probe.ts',
    ['--listen', `[${HOST}]:0`, '--keepalive', String(o.keepalive), ...serverFlags],
    flags,
    ['ignore', 'inherit', fd, 'ipc'],
  );
  closeSync(fd);
  const { port, listeningAt, httpPort, metricsPort } = await listeningMessage(
    c,
    'tsbond server',
  ).catch((e: unknown) => {
    const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${e instanceof Error ? e.message : String(e)}: ${tail}`);
  });
  const ipc = new IpcClient(c);
  return {
    kind: 'tsbond',
    pid: c.pid ?? 0,
    host: HOST,
    port,
    flags: serverFlags,
    listeningAt,
    httpPort,
    metricsPort,
    rssNow: () => procRss(c.pid ?? 0),
    async config() {
      const r = await ipc.request('config');
      return r.config;
    },
    async memory() {
      const r = await ipc.request('mem');
      const m = r.memory as NodeJS.MemoryUsage;
      return {
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
      };
    },
    async routeCount() {
      const r = await ipc.request('stats');
      return typeof r.routes === 'number' ? r.routes : undefined;
    },
    async sample() {
      const r = await ipc.request('stats');
      return {
        rss: typeof r.rss === 'number' ? r.rss : 0,
        maxQueuedBytes: typeof r.maxQueuedBytes === 'number' ? r.maxQueuedBytes : undefined,
      };
    },
    alive: () => alive(c),
    kill: () => {
      if (alive(c)) c.kill('SIGKILL');
    },
    logSummary: () => tsbondLogSummary(logFile),
    async stop() {
      if (!alive(c)) return;
      await ipc.request('shutdown', 20_000).catch(() => undefined);
      await waitExit(c, 20_000);
    },
  };
}

async function startForwarder(o: StartOptions): Promise<RunningServer> {
  const flags = [...(o.serverFlags ?? [])];
  const c = forkTs('bench/forwarder.ts', ['--listen', `[${HOST}]:0`, ...flags]);
  const { port, listeningAt } = await listeningMessage(c, 'forwarder');
  return {
    kind: 'forwarder',
    pid: c.pid ?? 0,
    host: HOST,
    port,
    flags,
    listeningAt,
    rssNow: () => procRss(c.pid ?? 0),
    config: () => Promise.resolve(undefined),
    memory: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    routeCount: () => Promise.resolve(undefined),
    sample: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    alive: () => alive(c),
    kill: () => {
      if (alive(c)) c.kill('SIGKILL');
    },
    logSummary: () => Promise.resolve({}),
    async stop() {
      c.kill('SIGTERM');
      await waitExit(c, 5000);
    },
  };
}

async function startGo(o: StartOptions): Promise<RunningServer> {
  const port = await freePort(HOST);
  mkdirSync(o.logDir, { recursive: true });
  const logFile = join(o.logDir, `go-${String(port)}.log`);
  const fd = openSync(o.goLogNull === true ? '/dev/null' : logFile, 'w');
  if (o.goLogNull === true) writeFileSync(logFile, '');
  const c = spawnTracked(
    GO_BIN,
    ['server', '--listen', `[${HOST}]:${String(port)}`, '--keepalive', String(o.keepalive)],
    { stdio: ['ignore', 'ignore', fd] },
  );
  closeSync(fd);
  if (o.goLogNull === true) await waitListening(port);
  else
    await waitFor('Go server "Listening on"', 30_000, () => {
      if (!alive(c))
        throw new Error(`Go server exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return readFileSync(logFile, 'utf8').includes('Listening on') ? true : undefined;
    });
  return {
    kind: 'go',
    pid: c.pid ?? 0,
    host: HOST,
    port,
    flags: [],
    listeningAt: Date.now(),
    rssNow: () => procRss(c.pid ?? 0),
    config: () => Promise.resolve(undefined),
    memory: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    routeCount: () => Promise.resolve(undefined),
    sample: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    alive: () => alive(c),
    kill: () => {
      if (alive(c)) c.kill('SIGKILL');
    },
    logSummary: () => goLogSummary(logFile),
    async stop() {
      if (alive(c)) c.kill('SIGTERM');
      await waitExit(c, 5000);
    },
  };
}

async function startRust(o: StartOptions): Promise<RunningServer> {
  mkdirSync(o.logDir, { recursive: true });
  const logFile = join(o.logDir, `rust-${String(Date.now())}.log`);
  const fd = openSync(logFile, 'w');
  const c = spawnTracked(
    RUST_BIN,
    ['server', '--listen', `[${HOST}]:0`, '--keepalive', String(o.keepalive)],
    { stdio: ['pipe', 'pipe', fd] },
  );
  closeSync(fd);
  let port: number | undefined;
  let routes: number | undefined;
  const stdout = c.stdout;
  if (stdout === null) throw new Error('rustbond-peer: no stdout');
  createInterface({ input: stdout }).on('line', (line) => {
    try {
      const ev = JSON.parse(line) as { event?: string; addr?: string; routes?: number };
      if (ev.event === 'listening' && typeof ev.addr === 'string') {
        port = Number(ev.addr.slice(ev.addr.lastIndexOf(':') + 1));
      } else if (ev.event === 'stats' && typeof ev.routes === 'number') routes = ev.routes;
    } catch {
      // not JSON: ignore
    }
  });
  const p = await waitFor('rustbond server "listening"', 30_000, () => {
    if (!alive(c)) throw new Error(`rustbond server exited: ${readFileSync(logFile, 'utf8')}`);
    return port;
  });
  return {
    kind: 'rust',
    pid: c.pid ?? 0,
    host: HOST,
    port: p,
    flags: [],
    listeningAt: Date.now(),
    rssNow: () => procRss(c.pid ?? 0),
    config: () => Promise.resolve(undefined),
    memory: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    // Printed by the driver every 200 ms when it changes.
    routeCount: () => Promise.resolve(routes),
    sample: () => Promise.resolve({ rss: rssBytes(c.pid ?? 0) ?? 0 }),
    alive: () => alive(c),
    kill: () => {
      if (alive(c)) c.kill('SIGKILL');
    },
    logSummary: () => rustLogSummary(logFile),
    async stop() {
      if (alive(c)) c.stdin?.end('quit\n');
      await waitExit(c, 5000);
    },
  };
}

export async function startServer(kind: ServerKind, o: StartOptions): Promise<RunningServer> {
  switch (kind) {
    case 'tsbond':
      return startTsbond(o);
    case 'go':
      return startGo(o);
    case 'rust':
      return startRust(o);
    case 'forwarder':
      return startForwarder(o);
  }
}

/** The server's route count once it reached `want` (rustbond reports it every 200 ms), or the last seen. */
export async function routeCountSettled(
  server: RunningServer,
  want: number,
): Promise<number | undefined> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const n = await server.routeCount();
    if (n === undefined || n === want || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}
