/**
 * The real `tsbond` CLI in child processes for the fault-injection tests: start, signal, read
 * the route changes a client prints (its handler's view) and the JSON log lines of either.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

export interface LogLine {
  readonly msg?: string;
  readonly [k: string]: unknown;
}

/** One route change printed by `tsbond client`: `[+] VNI 100: 10.0.1.0/24 via fd00::1 (STANDARD)`. */
export interface RouteChange {
  readonly at: number;
  readonly action: 'add' | 'remove';
  /** The line without its `[+] ` / `[-] ` prefix. */
  readonly route: string;
}

let fileSeq = 0;

/**
 * Output of a child process written to a file (never a pipe: a process writing to a pipe that
 * the test reads late blocks, and a blocked server or client is exactly what these tests must
 * not cause themselves), read incrementally line by line.
 */
class OutputFile {
  readonly path: string;
  readonly fd: number;
  private readFd: number | undefined;
  private offset = 0;
  private partial = '';

  constructor(name: string) {
    this.path = join(
      tmpdir(),
      `tsbond-fault-${String(process.pid)}-${String(++fileSeq)}-${name}.log`,
    );
    this.fd = openSync(this.path, 'w');
  }

  /** Complete lines written since the last call. */
  lines(): string[] {
    this.readFd ??= openSync(this.path, 'r');
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      const n = readSync(this.readFd, buf, 0, buf.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    if (chunks.length === 0) return [];
    const text = this.partial + Buffer.concat(chunks).toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    return parts;
  }

  close(): void {
    for (const fd of [this.fd, this.readFd]) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        // closed
      }
    }
    rmSync(this.path, { force: true });
  }
}

export class Cli {
  readonly proc: ChildProcess;
  readonly stdoutLines: string[] = [];
  private readonly _logs: LogLine[] = [];
  readonly stderrText: string[] = [];
  readonly changes: RouteChange[] = [];
  /** The handler's current view (route lines). */
  private readonly _view = new Set<string>();
  readonly exited: Promise<number | null>;
  private readonly out: OutputFile;
  private readonly err: OutputFile;

  constructor(args: readonly string[], options: { prefix?: readonly string[] } = {}) {
    const cmd = [...(options.prefix ?? []), process.execPath, '--import', 'tsx', MAIN, ...args];
    this.out = new OutputFile('out');
    this.err = new OutputFile('err');
    this.proc = spawn(cmd[0] as string, cmd.slice(1), {
      stdio: ['ignore', this.out.fd, this.err.fd],
    });
    this.exited = once(this.proc, 'exit').then(([code]) => code as number | null);
  }

  /** Starts `tsbond ARGS` and kills it (SIGKILL, after SIGCONT) when the test ends. */
  static start(
    t: TestContext,
    args: readonly string[],
    options: { prefix?: readonly string[] } = {},
  ): Cli {
    const c = new Cli(args, options);
    t.after(async () => {
      await c.kill();
      c.dispose();
    });
    return c;
  }

  /** Removes the output files (after the process ended). */
  dispose(): void {
    this.poll();
    this.out.close();
    this.err.close();
  }

  /** Reads what the process wrote since the last poll. */
  poll(): void {
    for (const line of this.out.lines()) this.line('stdout', line);
    for (const line of this.err.lines()) this.line('stderr', line);
  }

  /** Everything printed on stdout so far. */
  get stdout(): string[] {
    this.poll();
    return this.stdoutLines;
  }

  /** JSON log lines so far. */
  get logs(): LogLine[] {
    this.poll();
    return this._logs;
  }

  /** The route lines the client's handler holds now. */
  get view(): Set<string> {
    this.poll();
    return this._view;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  private line(stream: 'stdout' | 'stderr', line: string): void {
    if (stream === 'stdout') {
      this.stdoutLines.push(line);
      const m = /^\[([+-])\] (.*)$/.exec(line);
      if (m !== null) {
        const action = m[1] === '+' ? 'add' : 'remove';
        const route = m[2] ?? '';
        this.changes.push({ at: Date.now(), action, route });
        if (action === 'add') this._view.add(route);
        else this._view.delete(route);
      }
      return;
    }
    this.stderrText.push(line);
    if (line.startsWith('{')) {
      try {
        this._logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
  }

  /** Waits until `cond` holds (output polled every 20 ms); throws after `timeoutMs`. */
  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      if (cond()) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `timeout (${String(timeoutMs)} ms) waiting for ${what}; view: ${JSON.stringify([...this._view].slice(0, 10))}; stderr tail: ${this.stderrText.slice(-5).join(' | ')}`,
        );
      }
      if (!this.running) {
        throw new Error(
          `process exited (${String(this.proc.exitCode ?? this.proc.signalCode)}) while waiting for ${what}; stderr: ${this.stderrText.slice(-5).join(' | ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for a JSON log line whose msg matches; returns it. */
  async log(re: RegExp, timeoutMs = 15_000, after = 0): Promise<LogLine> {
    let hit: LogLine | undefined;
    await this.until(
      () => {
        hit = this.logs.slice(after).find((l) => re.test(l.msg ?? ''));
        return hit !== undefined;
      },
      timeoutMs,
      `log ${String(re)}`,
    );
    return hit as LogLine;
  }

  /** Waits until the handler's view is exactly `routes`. */
  async viewIs(routes: readonly string[], timeoutMs: number): Promise<number> {
    const want = [...routes].sort().join('\n');
    const t0 = Date.now();
    await this.until(
      () => [...this.view].sort().join('\n') === want,
      timeoutMs,
      `view ${JSON.stringify(routes)}`,
    );
    return Date.now() - t0;
  }

  signal(s: NodeJS.Signals): void {
    this.proc.kill(s);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** A free TCP port on `host` (bound and released). */
export async function freePort(host = '::1'): Promise<number> {
  const s = createServer();
  s.listen(0, host);
  await once(s, 'listening');
  const a = s.address();
  await new Promise<void>((resolve) =>
    s.close(() => {
      resolve();
    }),
  );
  if (a === null || typeof a !== 'object') throw new Error('no port');
  return a.port;
}

/** Resident set size of a process in bytes (0 when gone). */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'latin1'));
    return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** The route line `tsbond client` prints for an announcement of the standard kind. */
export function routeLine(vni: number, prefix: string, hop: string): string {
  return `VNI ${String(vni)}: ${prefix} via ${hop} (STANDARD)`;
}

/** Server flags of the fault tests: keepalive 1 s, JSON logs. */
export function serverArgs(port: number, host = '::1', extra: readonly string[] = []): string[] {
  return [
    'server',
    '--listen',
    `[${host}]:${String(port)}`,
    '--keepalive',
    '1',
    '--log-format',
    'json',
    ...extra,
  ];
}

/** Client flags: keepalive 1 s, JSON logs, subscribe `vni`, announce `announce`. */
export function clientArgs(
  server: string,
  vni: number,
  announce: readonly string[],
  extra: readonly string[] = [],
): string[] {
  return [
    'client',
    '--server',
    server,
    '--vni',
    String(vni),
    '--keepalive',
    '1',
    '--log-format',
    'json',
    ...announce.flatMap((a) => ['--announce', a]),
    ...extra,
  ];
}
