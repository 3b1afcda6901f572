/** The driver's side of the soak workers: client i runs in worker i % W. */

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { isReply, type ClientKind, type Command, type Reply } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

type Request = Command extends infer C
  ? C extends { seq: number }
    ? Omit<C, 'seq'>
    : never
  : never;

export interface Status {
  readonly established: number;
  readonly digests: (readonly [number, number, number])[];
  readonly dropsTotal: number;
  readonly lastChangeAt: number;
  readonly operationErrors: number;
  readonly errorSamples: string[];
  readonly lagP99Ms: number;
}

function rssOf(pid: number | undefined): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'latin1'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

class Worker {
  readonly child: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void }
  >();

  constructor(readonly index: number) {
    this.child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: unknown) => {
      if (!isReply(m)) return;
      const p = this.pending.get(m.seq);
      this.pending.delete(m.seq);
      if (m.ok) p?.resolve(m);
      else p?.reject(new Error(`worker ${String(index)}: ${m.error ?? 'failed'}`));
    });
    this.child.once('exit', (code, signal) => {
      for (const p of this.pending.values())
        p.reject(new Error(`worker ${String(index)} exited (${String(code ?? signal)})`));
      this.pending.clear();
    });
  }

  async request(cmd: Request, timeoutMs = 300_000): Promise<Reply> {
    const seq = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`worker ${String(this.index)}: '${cmd.op}' timed out`));
      }, timeoutMs);
      this.pending.set(seq, {
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.child.send({ ...cmd, seq });
    });
  }
}

export class WorkerPool {
  private readonly workers: Worker[];
  private inFlight: Promise<unknown>[] = [];

  constructor(n: number) {
    this.workers = Array.from({ length: n }, (_, i) => new Worker(i));
  }

  private at(i: number): Worker {
    return this.workers[i % this.workers.length] as Worker;
  }

  /** Starts every client ([index, vni]) in its worker; resolves once all were created. */
  async spawn(
    clients: readonly (readonly [number, number])[],
    server: string,
    kind: ClientKind,
    keepalive: number,
    routes: number,
  ): Promise<void> {
    const shares = this.workers.map(() => [] as (readonly [number, number])[]);
    for (const c of clients) shares[c[0] % this.workers.length]?.push(c);
    await Promise.all(
      this.workers.map((w, k) =>
        w.request({
          op: 'spawn',
          clients: shares[k] ?? [],
          server,
          kind,
          keepalive,
          routes,
          rampPer10ms: 10,
        }),
      ),
    );
  }

  private send(op: 'announce' | 'withdraw', items: readonly (readonly [number, number])[]): void {
    if (items.length === 0) return;
    const shares = this.workers.map(() => [] as (readonly [number, number])[]);
    for (const it of items) shares[it[0] % this.workers.length]?.push(it);
    shares.forEach((s, k) => {
      if (s.length > 0) this.inFlight.push(this.at(k).request({ op, items: s }));
    });
  }

  /** Client operations, sent without waiting (flush() waits for them). */
  announce(items: readonly (readonly [number, number])[]): void {
    this.send('announce', items);
  }

  withdraw(items: readonly (readonly [number, number])[]): void {
    this.send('withdraw', items);
  }

  async flush(): Promise<void> {
    const f = this.inFlight;
    this.inFlight = [];
    await Promise.all(f);
  }

  async status(): Promise<Status> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'status' }, 60_000)));
    const out = {
      established: 0,
      digests: [] as (readonly [number, number, number])[],
      dropsTotal: 0,
      lastChangeAt: 0,
      operationErrors: 0,
      errorSamples: [] as string[],
      lagP99Ms: 0,
    };
    for (const r of replies) {
      const s = r.status;
      if (s === undefined) continue;
      out.established += s.established;
      for (const d of s.digests) out.digests.push(d);
      for (const [, n] of s.drops) out.dropsTotal += n;
      out.lastChangeAt = Math.max(out.lastChangeAt, s.lastChangeAt);
      out.operationErrors += s.operationErrors;
      out.errorSamples.push(...s.errorSamples);
      out.lagP99Ms = Math.max(out.lagP99Ms, s.lagP99Ms);
    }
    return out;
  }

  rssBytes(): number {
    return this.workers.reduce((n, w) => n + rssOf(w.child.pid), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        await w.request({ op: 'stop' }, 30_000).catch(() => undefined);
        if (w.child.connected) w.child.disconnect();
      }),
    );
  }
}
