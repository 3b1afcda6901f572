/**
 * The page's live feed, over server-sent events. Nothing here runs per route update:
 * - every second it reads the source's change counter and route count, keeps them as the plot's
 *   history and sends them as a `sample` event;
 * - while a page is open it also looks at the change counter five times a second (one number),
 *   and when it moved sends a `changes` event: the per-VNI change summary since the last one. At
 *   most one `changes` event per second; the first change after a quiet second goes out within
 *   about 200 ms, so a page shows a new route within a second. The page then re-queries only what
 *   it shows.
 */

import type { ServerResponse } from 'node:http';

import type { StatusSource } from './sources.js';

export interface LiveSample {
  /** Epoch ms. */
  readonly t: number;
  readonly updatesPerSecond: number;
  readonly routes: number;
}

export interface LiveChanges {
  readonly t: number;
  /** Route changes since the previous summary. */
  readonly changes: number;
  /** Changes per VNI since the previous summary; null when the source cannot tell. */
  readonly vnis: Readonly<Record<string, number>> | null;
}

export interface LiveFeedOptions {
  /** Sample interval (plot), default 1000 ms. */
  readonly intervalMs?: number;
  /** Shortest interval between two change summaries, default 1000 ms. */
  readonly summaryIntervalMs?: number;
  /** How often the change counter is looked at while a page is open, default 200 ms. */
  readonly pollMs?: number;
  /** History kept for the plot, in samples (default 600: ten minutes at one a second). */
  readonly historySamples?: number;
  /** Most event streams open at once (default 64). */
  readonly maxClients?: number;
}

export class LiveFeed {
  private readonly history: LiveSample[] = [];
  private readonly clients = new Set<ServerResponse>();
  private readonly sampleTimer: NodeJS.Timeout;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly o: Required<LiveFeedOptions>;
  private sampleTotal: number;
  private sampleAt = Date.now();
  private summaryTotal = 0;
  private summaryPerVni: Map<number, number> | undefined;
  private summaryAt = 0;

  constructor(
    private readonly source: StatusSource,
    options: LiveFeedOptions = {},
  ) {
    this.o = {
      intervalMs: options.intervalMs ?? 1000,
      summaryIntervalMs: options.summaryIntervalMs ?? 1000,
      pollMs: options.pollMs ?? 200,
      historySamples: options.historySamples ?? 600,
      maxClients: options.maxClients ?? 64,
    };
    this.sampleTotal = source.changes().total;
    this.sampleTimer = setInterval(() => {
      this.sample();
    }, this.o.intervalMs);
    this.sampleTimer.unref();
  }

  samples(): readonly LiveSample[] {
    return this.history;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes one sample of the plot's history and sends it to the open pages. */
  sample(): LiveSample {
    const now = Date.now();
    const total = this.source.changes().total;
    const seconds = Math.max(0.001, (now - this.sampleAt) / 1000);
    const s: LiveSample = {
      t: now,
      updatesPerSecond: Math.round((Math.max(0, total - this.sampleTotal) / seconds) * 10) / 10,
      routes: this.source.routeCount(),
    };
    this.sampleTotal = total;
    this.sampleAt = now;
    this.history.push(s);
    if (this.history.length > this.o.historySamples) this.history.shift();
    this.broadcast('sample', s);
    return s;
  }

  /** Sends a change summary if the counter moved and the last summary is old enough. */
  poll(): LiveChanges | undefined {
    const now = Date.now();
    if (now - this.summaryAt < this.o.summaryIntervalMs) return undefined;
    const c = this.source.changes();
    if (c.total === this.summaryTotal) return undefined;
    let vnis: Record<string, number> | null = null;
    if (c.perVni !== undefined) {
      vnis = {};
      const last = this.summaryPerVni;
      for (const [vni, v] of c.perVni) {
        const d = v - (last?.get(vni) ?? 0);
        if (d !== 0) vnis[String(vni)] = Math.abs(d);
      }
      // A VNI whose counter went away (emptied and dropped) changed too.
      if (last !== undefined)
        for (const vni of last.keys()) if (!c.perVni.has(vni)) vnis[String(vni)] = 1;
      this.summaryPerVni = new Map(c.perVni);
    }
    const summary: LiveChanges = { t: now, changes: c.total - this.summaryTotal, vnis };
    this.summaryTotal = c.total;
    this.summaryAt = now;
    this.broadcast('changes', summary);
    return summary;
  }

  /** Turns `res` into an event stream; false when too many are open. */
  attach(res: ServerResponse): boolean {
    if (this.clients.size >= this.o.maxClients) return false;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.write(`retry: 2000\n\n`);
    res.socket?.setNoDelay(true);
    if (this.clients.size === 0) {
      // Baseline for the summaries: what the new page loads is current.
      const c = this.source.changes();
      this.summaryTotal = c.total;
      this.summaryPerVni = c.perVni === undefined ? undefined : new Map(c.perVni);
      this.pollTimer = setInterval(() => {
        this.poll();
      }, this.o.pollMs);
      this.pollTimer.unref();
    }
    this.clients.add(res);
    res.once('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.pollTimer !== undefined) {
        clearInterval(this.pollTimer);
        this.pollTimer = undefined;
      }
    });
    return true;
  }

  close(): void {
    clearInterval(this.sampleTimer);
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.clients) res.write(msg);
  }
}
