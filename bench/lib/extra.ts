/**
 * Extra benchmark modules (kernel route installation, HTTP status-page cost, TLS fan-out, ...):
 * each runs under its own name (`bench/run.ts kernel`), in `npm run bench` when `inAll`, in the
 * smoke run when `inSmoke`; its result is saved in the run's JSON (`extra[name]`), printed, and
 * written to BENCHMARKS.md as a section of its own (its `markdown`, else a table of its
 * `figures`), with its figures in the targets table. Smoke asserts `ok`; a module that cannot
 * run here (a feature the server does not have yet, no root) returns `skipped`, which every
 * report shows as not measured (never as passed).
 *
 * A module may declare command-line options of its own (`options`, parsed with the others by
 * bench/lib/options.ts, values in `ctx.args`) and a paragraph for --help (`help`).
 *
 * To wire a module: implement ExtraModule in its own file and add it to EXTRA_MODULES in
 * bench/run.ts.
 */

import type { FanoutOptions } from './fanout.js';
import type { FleetName } from './fleet.js';
import type { Options } from './options.js';
import type { RunningServer, ServerKind } from './servers.js';

export interface ExtraContext {
  readonly smoke: boolean;
  readonly keepalive: number;
  /** Flags of `tsbond server` for this run ([] = defaults). */
  readonly serverFlags: readonly string[];
  /** The whole run's options (sizes of the fan-out etc.). */
  readonly options: Options;
  /** Values of the module's own options (`ExtraModule.options`), by option name. */
  readonly args: Readonly<Record<string, string | boolean | undefined>>;
  /** Servers asked for (--server) whose binaries exist. */
  readonly servers: readonly ServerKind[];
  /**
   * Starts a server under test (stopped by the caller's `finally`). tsbond: with `flags`, else
   * the run's flags; the forwarder: with `flags` (bench/forwarder.ts), else none.
   */
  readonly startServer: (kind: ServerKind, flags?: readonly string[]) => Promise<RunningServer>;
  /** Fan-out options with the run's sizes for a fleet and a rate (0 = unpaced). */
  readonly fanoutOptions: (fleet: FleetName, rate: number) => FanoutOptions;
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
  /** Why the figure could not be measured here (then `value` says so and `met` is absent). */
  readonly notMeasured?: string;
}

export interface ExtraResult {
  /** Section heading (the module's title; absent in older results: its name is used). */
  readonly title?: string;
  /** Correctness (asserted by the smoke run). */
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Why the module measured nothing here (reported as not measured; `ok` is then true). */
  readonly skipped?: string;
  readonly figures: readonly ExtraFigure[];
  /** A Markdown section body for BENCHMARKS.md (without its heading). */
  readonly markdown?: string;
  /** Raw data, kept in the results JSON. */
  readonly data?: unknown;
}

/** A command-line option of a module (node:util parseArgs shape; name without the dashes). */
export interface ExtraOption {
  readonly type: 'string' | 'boolean';
  readonly default?: string | boolean;
  /** A string option holding an integer >= min (checked when the command line is parsed). */
  readonly min?: number;
}

export interface ExtraModule {
  /** Benchmark name on the command line. */
  readonly name: string;
  /** Section heading in BENCHMARKS.md. */
  readonly title: string;
  readonly inAll: boolean;
  readonly inSmoke: boolean;
  /** Options of its own, e.g. { 'http-rate': { type: 'string' } } for --http-rate. */
  readonly options?: Readonly<Record<string, ExtraOption>>;
  /** Its paragraph in --help (a heading line, then indented option lines). */
  readonly help?: string;
  run(ctx: ExtraContext): Promise<ExtraResult>;
}

/** A module's string option as an integer >= min (its default when absent). */
export function intArg(ctx: ExtraContext, name: string, fallback: number, min = 0): number {
  const v = ctx.args[name];
  if (typeof v !== 'string') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${String(min)}`);
  }
  return n;
}
