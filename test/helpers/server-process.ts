/**
 * The driver's side of test/helpers/server-probe.ts: starts the server in a child process,
 * samples it, kills and restarts it on the same port, and records crashes and unexpected exits.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import type { ProbeConfig, ProbeMessage, ProbeSample } from './server-probe.js';

const PROBE = fileURLToPath(new URL('./server-probe.ts', import.meta.url));

export class ServerProcess {
  child: ChildProcess | undefined;
  port = 0;
  /** Crashes reported by the probe (uncaught exceptions, unhandled rejections). */
  readonly crashes: string[] = [];
  /** Exits we did not ask for. */
  readonly unexpectedExits: string[] = [];
  starts = 0;
  private seq = 0;
  private readonly pending = new Map<number, (s: ProbeSample) => void>();
  private stopping = false;

  constructor(private readonly config: ProbeConfig) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child?.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (on `port`, or the configured listen address); resolves once listening. */
  async start(port?: number, timeoutMs = 30_000): Promise<void> {
    const listen =
      port === undefined
        ? this.config.listen
        : this.config.listen.replace(/:\d+$/, `:${String(port)}`);
    const child = fork(PROBE, [JSON.stringify({ ...this.config, listen })], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.stopping = false;
    this.starts++;
    child.on('message', (m: ProbeMessage) => {
      if ('event' in m && m.event === 'crash') this.crashes.push(`${m.kind}: ${m.error}`);
      else if ('seq' in m) {
        const r = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        r?.(m.sample);
      }
    });
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.unexpectedExits.push(`exit ${String(code ?? signal)}`);
      for (const r of this.pending.values()) r(undefined as unknown as ProbeSample);
      this.pending.clear();
    });
    const listening = new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error('server probe did not start listening'));
      }, timeoutMs);
      child.on('message', (m: ProbeMessage) => {
        if ('event' in m && m.event === 'listening') {
          clearTimeout(t);
          resolve(m.port);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`server probe exited (${String(code)}) before listening`));
      });
    });
    this.port = await listening;
  }

  /** A sample (undefined when the process is gone or does not answer within `timeoutMs`). */
  async sample(timeoutMs = 10_000): Promise<ProbeSample | undefined> {
    const child = this.child;
    if (child === undefined || !this.running || !child.connected) return undefined;
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pending.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(seq, (s) => {
        clearTimeout(t);
        resolve(s);
      });
      child.send({ op: 'sample', seq });
    });
  }

  /** Starts a new measurement window for `lagSinceMark`. */
  mark(): void {
    if (this.child?.connected === true) this.child.send({ op: 'mark' });
  }

  /** Kills the server (SIGKILL by default: a crash, no goodbye) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    this.stopping = true;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /** Stops it gracefully (IPC disconnect: the probe shuts the server down), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    this.stopping = true;
    const exited = once(child, 'exit');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    if (child.connected) child.disconnect();
    else child.kill('SIGTERM');
    await exited;
    clearTimeout(t);
  }
}
