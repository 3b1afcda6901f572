/**
 * Extra benchmark modules (kernel route installation, HTTP status-page cost, ...): each runs
 * under its own name (`bench/run.ts kernel`), in `npm run bench` when `inAll`, in the smoke run
 * when `inSmoke`; its result is saved in the run's JSON (`extra[name]`), printed, and written to
 * BENCHMARKS.md as a section of its own (its `markdown`, else a table of its `figures`), with
 * its figures in the targets table. Smoke asserts `ok`.
 *
 * To wire a module: implement ExtraModule in its own file and add it to EXTRA_MODULES in
 * bench/run.ts.
 */

import type { RunningServer, ServerKind } from './servers.js';

export interface ExtraContext {
  readonly smoke: boolean;
  readonly keepalive: number;
  /** Flags of `tsbond server` for this run ([] = defaults). */
  readonly serverFlags: readonly string[];
  /** Starts a server under test with the run's options (stopped by the caller's `finally`). */
  readonly startServer: (kind: ServerKind) => Promise<RunningServer>;
  /** Waits for a quiet machine (--quiet) and returns how busy it was before the run. */
  readonly background: (tag: string) => Promise<number>;
  readonly progress: (msg: string) => void;
}

export interface ExtraFigure {
  readonly figure: string;
  readonly value: string;
  /** e.g. '< 1 s'; with `met`, the figure is a target row. */
  readonly target?: string;
  readonly met?: boolean;
  /** The command that reproduces the figure. */
  readonly command?: string;
  /** Whether the server ran with its default flags. */
  readonly defaults?: boolean;
}

export interface ExtraResult {
  /** Correctness (asserted by the smoke run). */
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly figures: readonly ExtraFigure[];
  /** A Markdown section body for BENCHMARKS.md (without its heading). */
  readonly markdown?: string;
  /** Raw data, kept in the results JSON. */
  readonly data?: unknown;
}

export interface ExtraModule {
  /** Benchmark name on the command line. */
  readonly name: string;
  /** Section heading in BENCHMARKS.md. */
  readonly title: string;
  readonly inAll: boolean;
  readonly inSmoke: boolean;
  run(ctx: ExtraContext): Promise<ExtraResult>;
}
