/**
 * How long the event loop is held: a 1 ms interval timer measures the gaps between its ticks, and
 * a gap counts for the CPU time the process used in it (at most the gap): time the scheduler gave
 * to other processes on a shared machine is not this process holding its loop. Meant for a
 * process started with --single-threaded, where the process's CPU time is the main thread's
 * (garbage collection included).
 */

import { PerformanceObserver, performance } from 'node:perf_hooks';

export interface LoopStats {
  readonly ticks: number;
  /** Longest hold (CPU-attributed gap), ms. */
  readonly maxMs: number;
  /** Gaps above `limitMs`. */
  readonly over: number;
  /** Of those, the gaps during which a garbage collection ran. */
  readonly overWithGc: number;
  /** Longest garbage collection pause seen, ms. */
  readonly longestGcMs: number;
  readonly limitMs: number;
  /** Longest wall-clock gap (other processes included), ms. */
  readonly wallMs: number;
}

export class LoopWatch {
  private last = performance.now();
  private lastCpu = process.cpuUsage();
  private readonly held: number[] = [];
  private wall = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly gcs: { start: number; ms: number }[] = [];
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcs.push({ start: e.startTime, ms: e.duration });
  });
  private readonly gaps: { at: number; held: number }[] = [];

  constructor(private readonly limitMs = 10) {
    this.timer = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage();
      const gap = now - this.last;
      const cpuGap = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000;
      this.wall = Math.max(this.wall, gap);
      this.held.push(Math.min(gap, cpuGap));
      this.gaps.push({ at: this.last, held: Math.min(gap, cpuGap) });
      this.last = now;
      this.lastCpu = cpu;
    }, 1);
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  stop(): LoopStats {
    clearInterval(this.timer);
    this.gcObserver.disconnect();
    const over = this.gaps.filter((g) => g.held > this.limitMs);
    const overWithGc = over.filter((g) =>
      this.gcs.some((x) => x.start >= g.at - 1 && x.start <= g.at + g.held + 1),
    ).length;
    const sorted = [...this.held].sort((a, b) => b - a);
    return {
      ticks: sorted.length,
      maxMs: sorted[0] ?? 0,
      over: over.length,
      overWithGc,
      longestGcMs: Math.max(0, ...this.gcs.map((x) => x.ms)),
      limitMs: this.limitMs,
      wallMs: this.wall,
    };
  }
}

export const describeLoop = (l: LoopStats): string =>
  `event loop held at most ${l.maxMs.toFixed(1)} ms; ${String(l.over)} of ${String(l.ticks)} ticks over ${String(l.limitMs)} ms (${String(l.overWithGc)} of them with a GC; longest GC ${l.longestGcMs.toFixed(1)} ms); longest wall-clock gap ${l.wallMs.toFixed(1)} ms`;
