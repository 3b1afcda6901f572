/** Starts test/kernel/agent.ts in a namespace and calls it. */

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { AgentOpen } from './agent.js';
import type { Netns } from './netns.js';
import type { KernelCounters, KernelRouteInfo } from '../../src/kernel/types.js';

const AGENT = fileURLToPath(new URL('./agent.ts', import.meta.url));

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { code: string; message: string };
}

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Agent {
  readonly stderr: string[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Reply) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
    let buf = '';
    proc.stderr?.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      this.stderr.push(...lines);
    });
    proc.stdout?.resume();
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code) => {
        for (const w of this.waiting.values())
          w({
            id: 0,
            ok: false,
            error: {
              code: 'EXIT',
              message: `agent exited (${String(code)}): ${this.stderr.join('\n')}`,
            },
          });
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  static async start(t: { after(fn: () => void): void }, ns: Netns): Promise<Agent> {
    const proc = spawn(
      'ip',
      ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', AGENT],
      {
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    const agent = new Agent(proc);
    t.after(() => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      agent.waiting.set(0, (r) => {
        if (r.ok) resolve();
        else reject(new Error(r.error?.message));
      });
    });
    return agent;
  }

  call(cmd: string, arg?: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => {
        if (r.ok) resolve(r.value);
        else reject(new AgentError(r.error?.code ?? 'ERROR', r.error?.message ?? ''));
      });
      this.proc.send({ id, cmd, arg });
    });
  }

  open(o: AgentOpen): Promise<unknown> {
    return this.call('open', o);
  }
  /** Announcement strings `VNI#PREFIX@HOP[#TYPE...]`; resolves once the kernel acknowledged. */
  add(...routes: string[]): Promise<unknown> {
    return this.call('add', routes);
  }
  remove(...routes: string[]): Promise<unknown> {
    return this.call('remove', routes);
  }
  async counters(): Promise<KernelCounters> {
    return (await this.call('counters')) as KernelCounters;
  }
  async routes(): Promise<KernelRouteInfo[]> {
    return (await this.call('routes')) as KernelRouteInfo[];
  }
  async close(cleanup = false): Promise<void> {
    await this.call('close', cleanup);
    this.proc.disconnect();
    await this.exited;
  }
  /** Ends the process without closing the installer (as a crash or a kill would). */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
