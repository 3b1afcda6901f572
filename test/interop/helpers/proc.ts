/**
 * A spawned peer process (Go MetalBond, rustbond-peer, tsbond CLI): stdout and stderr are split
 * into lines and kept, tests wait for lines with a deadline, and the process is always killed
 * after the test (registered with t.after when it is spawned).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { Signal } from './wait.js';

export interface Line {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** ms since the process was spawned */
  readonly at: number;
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Name used in error messages, e.g. "go-client#2". */
  readonly name: string;
  /**
   * Send stderr to a file that is tailed, instead of a pipe. For chatty peers (the Go CLI logs
   * every route): a pipe couples their speed to this process's event loop, which runs tsbond too,
   * and a full pipe blocks their logging and with it their protocol handling.
   */
  readonly stderrToFile?: boolean;
}

let logDir: string | undefined;

/** A per-process temporary directory for peer logs, removed when the test process exits. */
function peerLogDir(): string {
  if (logDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'tsbond-interop-'));
    logDir = dir;
    process.on('exit', () => {
      rmSync(dir, { recursive: true, force: true });
    });
  }
  return logDir;
}

let fileCounter = 0;

/** Keep at most this many lines per process (bursts can log one line per route). */
const MAX_LINES = 200_000;

export class PeerProcess {
  readonly lines: Line[] = [];
  readonly name: string;
  readonly started = Date.now();
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  readonly exitedPromise: Promise<void>;
  /** Lines dropped after MAX_LINES. */
  dropped = 0;
  private readonly changed = new Signal();
  private readonly child: ChildProcess;

  constructor(
    t: TestContext,
    readonly command: string,
    readonly args: readonly string[],
    options: SpawnOptions,
  ) {
    this.name = options.name;
    let stderrFile: string | undefined;
    let stderrFd: number | undefined;
    if (options.stderrToFile === true) {
      stderrFile = join(
        peerLogDir(),
        `${String(++fileCounter)}-${options.name.replace(/\W/g, '_')}.log`,
      );
      stderrFd = openSync(stderrFile, 'w');
    }
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', stderrFd ?? 'pipe'],
    });
    if (stderrFd !== undefined) closeSync(stderrFd);
    const stopTail = stderrFile === undefined ? undefined : this.followFile(stderrFile);
    this.exitedPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        stopTail?.();
        this.exitCode = code;
        this.exitSignal = signal;
        this.exited = true;
        this.changed.notify();
        resolve();
      });
      this.child.on('error', (err) => {
        stopTail?.();
        this.push('stderr', `spawn error: ${err.message}`);
        this.exited = true;
        this.changed.notify();
        resolve();
      });
    });
    this.split('stdout');
    if (stderrFile === undefined) this.split('stderr');
    this.child.stdin?.on('error', () => {
      // The process went away while we were writing; exit handling reports it.
    });
    t.after(() => this.kill());
  }

  /** Follows a log file: new complete lines every 25 ms; returns the function that stops it. */
  private followFile(path: string): () => void {
    const fd = openSync(path, 'r');
    const buf = Buffer.allocUnsafe(256 * 1024);
    let offset = 0;
    let rest = '';
    let open = true;
    const drain = (): void => {
      let got = false;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        got = true;
        const parts = (rest + buf.toString('utf8', 0, n)).split('\n');
        rest = parts.pop() ?? '';
        for (const p of parts) this.push('stderr', p);
      }
      if (got) this.changed.notify();
    };
    const timer = setInterval(drain, 25);
    return () => {
      if (!open) return;
      open = false;
      clearInterval(timer);
      drain();
      if (rest !== '') this.push('stderr', rest);
      closeSync(fd);
    };
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private split(stream: 'stdout' | 'stderr'): void {
    const readable = this.child[stream];
    if (readable === null) return;
    let rest = '';
    readable.setEncoding('utf8');
    readable.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) this.push(stream, p);
      this.changed.notify();
    });
    readable.on('end', () => {
      if (rest !== '') this.push(stream, rest);
      rest = '';
      this.changed.notify();
    });
  }

  private push(stream: 'stdout' | 'stderr', text: string): void {
    if (this.lines.length >= MAX_LINES) {
      this.dropped++;
      return;
    }
    this.lines.push({ stream, text, at: Date.now() - this.started });
  }

  /** Writes one line to the process's stdin. */
  writeLine(line: string): void {
    if (!this.exited) this.child.stdin?.write(`${line}\n`);
  }

  /** The last `n` lines, for failure messages. */
  tail(n = 30): string {
    const out = this.lines.slice(-n).map((l) => `  ${l.stream === 'stderr' ? '!' : '>'} ${l.text}`);
    const state = this.exited
      ? `exited (code ${String(this.exitCode)}, signal ${String(this.exitSignal)})`
      : 'running';
    return `--- ${this.name} (${state}), last ${String(out.length)} lines:\n${out.join('\n')}`;
  }

  /** Lines (of one stream, or both) matching `re`. */
  matching(re: RegExp, stream?: 'stdout' | 'stderr'): Line[] {
    return this.lines.filter(
      (l) => (stream === undefined || l.stream === stream) && re.test(l.text),
    );
  }

  /**
   * Waits until the `count`-th line matching `re` has arrived and returns it. Fails early if the
   * process exits first.
   */
  async waitForLine(
    re: RegExp,
    timeoutMs: number,
    options: { stream?: 'stdout' | 'stderr'; count?: number } = {},
  ): Promise<Line> {
    const count = options.count ?? 1;
    let found: Line | undefined;
    await this.until(
      () => {
        const m = this.matching(re, options.stream);
        found = m[count - 1];
        return found !== undefined;
      },
      timeoutMs,
      `${count > 1 ? `${String(count)} lines` : 'a line'} matching ${String(re)}`,
    );
    if (found === undefined) throw new Error('unreachable');
    return found;
  }

  /**
   * Waits until `cond()` holds, re-checked on every output line and on exit. Throws (with the
   * process's last lines) on timeout, or when the process exits while the condition is false.
   */
  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    await this.changed.until(
      () => {
        if (cond()) return true;
        if (this.exited)
          throw new Error(`${this.name} exited while waiting for ${what}\n${this.tail()}`);
        return false;
      },
      timeoutMs,
      `${what} from ${this.name}`,
      () => this.tail(),
    );
  }

  /** Sends a signal if the process is still running. */
  signal(sig: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(sig);
  }

  /** Waits for the exit (bounded); returns false on timeout. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const r = await Promise.race([this.exitedPromise.then(() => true), timedOut]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Always resolves. */
  async kill(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    this.signal('SIGTERM');
    if (await this.waitExit(graceMs)) return;
    this.signal('SIGKILL');
    await this.waitExit(2000);
  }
}
