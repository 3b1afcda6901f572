/** The driver's side of the load-generator worker processes (bench/worker.ts). */

import type { ChildProcess } from 'node:child_process';

import { forkTs, waitExit } from './procs.js';
import {
  isReply,
  isWorkerEvent,
  type Command,
  emptyGroup,
  type GroupStats,
  type Reply,
  type WorkerStats,
} from './protocol.js';

export class Worker {
  readonly child: ChildProcess;
  latest: WorkerStats | undefined;
  readonly lost: string[] = [];
  private seq = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void }
  >();

  constructor(readonly index: number) {
    this.child = forkTs('bench/worker.ts', [], [], ['ignore', 'inherit', 'inherit', 'ipc']);
    this.child.on('message', (m: unknown) => {
      if (isReply(m)) {
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        if (p === undefined) return;
        if (m.ok) p.resolve(m);
        else p.reject(new Error(`worker ${String(index)}: ${m.error ?? 'failed'}`));
      } else if (isWorkerEvent(m)) {
        if (m.event === 'stats' && m.stats !== undefined) this.latest = m.stats;
        else if (m.event === 'lost') this.lost.push(`${m.id ?? '?'}: ${m.reason ?? ''}`);
      }
    });
    this.child.once('exit', (code, signal) => {
      for (const p of this.pending.values()) {
        p.reject(
          new Error(`worker ${String(index)} exited (${String(code ?? signal)}) during a request`),
        );
      }
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async request(cmd: Command, timeoutMs = 120_000): Promise<Reply> {
    const seq = this.seq++;
    return new Promise<Reply>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`worker ${String(this.index)}: '${cmd.op}' timed out`));
      }, timeoutMs);
      this.pending.set(seq, {
        resolve: (r) => {
          clearTimeout(t);
          if (r.stats !== undefined) this.latest = r.stats;
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

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await waitExit(this.child, 5000);
  }
}

export class WorkerPool {
  readonly workers: Worker[];

  constructor(n: number) {
    this.workers = Array.from({ length: n }, (_, i) => new Worker(i));
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  /** Worker `i` modulo the pool size. */
  at(i: number): Worker {
    const w = this.workers[i % this.workers.length];
    if (w === undefined) throw new Error('no workers');
    return w;
  }

  async all(
    cmd: Command | ((w: Worker) => Command | undefined),
    timeoutMs?: number,
  ): Promise<Reply[]> {
    const pending: Promise<Reply>[] = [];
    for (const w of this.workers) {
      const c = typeof cmd === 'function' ? cmd(w) : cmd;
      if (c !== undefined) pending.push(w.request(c, timeoutMs));
    }
    return Promise.all(pending);
  }

  /** Fresh stats from every worker, summed. */
  async stats(): Promise<WorkerStats> {
    const replies = await this.all({ op: 'stats' });
    return sumStats(replies.map((r) => r.stats).filter((s): s is WorkerStats => s !== undefined));
  }

  /** The latest pushed stats (no round trip), summed. */
  latest(): WorkerStats {
    return sumStats(
      this.workers.map((w) => w.latest).filter((s): s is WorkerStats => s !== undefined),
    );
  }

  lostReasons(): string[] {
    return this.workers.flatMap((w) => w.lost);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

/** Group statistics of several workers, summed (min and max over all connections). */
export function sumGroups(list: readonly GroupStats[]): GroupStats {
  const s = emptyGroup();
  let min = Infinity;
  const samples: string[] = [];
  const features: Record<string, number> = {};
  for (const x of list) {
    s.conns += x.conns;
    s.adds += x.adds;
    s.removes += x.removes;
    if (x.conns > 0) min = Math.min(min, x.minPerConn);
    s.maxPerConn = Math.max(s.maxPerConn, x.maxPerConn);
    s.lastUpdateAt = Math.max(s.lastUpdateAt, x.lastUpdateAt);
    s.lost += x.lost;
    s.synced += x.synced;
    s.refused += x.refused;
    s.unbalanced += x.unbalanced;
    s.ownSentAdds += x.ownSentAdds;
    s.ownSentRemoves += x.ownSentRemoves;
    s.views += x.views;
    s.viewSize += x.viewSize;
    s.viewAddPresent += x.viewAddPresent;
    s.viewRemoveAbsent += x.viewRemoveAbsent;
    samples.push(...x.viewSamples);
    for (const [k, n] of Object.entries(x.serverFeatures)) features[k] = (features[k] ?? 0) + n;
  }
  s.minPerConn = min === Infinity ? 0 : min;
  s.viewSamples = samples.slice(0, 5);
  s.serverFeatures = features;
  return s;
}

export function sumStats(list: readonly WorkerStats[]): WorkerStats {
  const names = new Set(list.flatMap((x) => Object.keys(x.groups)));
  const groups: Record<string, GroupStats> = {};
  for (const n of names) {
    groups[n] = sumGroups(
      list.map((x) => x.groups[n]).filter((g): g is GroupStats => g !== undefined),
    );
  }
  return {
    ...sumGroups(list),
    sentAdds: list.reduce((a, x) => a + x.sentAdds, 0),
    sentRemoves: list.reduce((a, x) => a + x.sentRemoves, 0),
    groups,
    lostReasons: list.flatMap((x) => x.lostReasons),
  };
}
