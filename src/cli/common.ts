/** Shared CLI plumbing: logging flags, signals, error exits. */

import { InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { MetalBondError } from '../errors.js';
import { createLogger, type LogFormat, type Logger } from '../log.js';
import { DEFAULT_PACING, type PacingOptions } from '../session/pacing.js';

export interface LogFlags {
  verbose?: boolean;
  logFormat: LogFormat;
}

export function logOptions(): Option[] {
  return [
    new Option('--verbose', 'debug logging'),
    new Option('--log-format <format>', 'log format on stderr')
      .choices(['json', 'pretty'])
      .default(process.stderr.isTTY ? 'pretty' : 'json'),
  ];
}

export function loggerFrom(flags: LogFlags): Logger {
  return createLogger({
    level: flags.verbose === true ? 'debug' : 'info',
    format: flags.logFormat,
  });
}

/** `--pacing <bytes/s>`, `--no-pacing` and `--no-extensions`. */
export function pacingOptions(): Option[] {
  return [
    new Option(
      '--pacing <bytesPerSecond>',
      'pace writes to peers that do not reassemble the stream (Go MetalBond, rustbond: Go resets when 64 KiB behind); tsbond peers are never paced',
    )
      .argParser((v) => {
        if (!/^[0-9]+$/.test(v) || Number(v) < 1)
          throw new CommanderArgError('must be a whole number of bytes per second >= 1');
        return Number(v);
      })
      .default(DEFAULT_PACING.bytesPerSecond),
    new Option(
      '--no-pacing',
      'no pacing towards Go MetalBond and rustbond peers either (safe only without Go peers)',
    ),
    new Option(
      '--no-extensions',
      'behave as a plain MetalBond peer: no feature bits in HELLO, no SYNCED, no REFUSED',
    ),
  ];
}

/** The library's pacing option from the flags. */
export function pacingFrom(flag: number | false): PacingOptions | false {
  return flag === false ? false : { bytesPerSecond: flag, burstBytes: DEFAULT_PACING.burstBytes };
}

export function parseSeconds(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 0xffffffff) {
    throw new CommanderArgError('must be a whole number of seconds >= 1');
  }
  return Number(value);
}

/** Seconds >= 0, fractions allowed (`--hold-time 0`, `--sync-delay 2.5`). */
export function parseDuration(value: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || Number(value) > 86_400) {
    throw new CommanderArgError('must be a number of seconds from 0 to 86400');
  }
  return Number(value);
}

/**
 * A repeatable, comma-separated flag: each value parsed by `parse`, appended to the previous ones;
 * a typed error of ours becomes commander's one-line usage error.
 */
export function listParser<T>(
  parse: (s: string) => T,
): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => {
    const out = [...(previous ?? [])];
    for (const part of value.split(',')) {
      const v = part.trim();
      if (v === '') continue;
      try {
        out.push(parse(v));
      } catch (e) {
        throw new CommanderArgError(e instanceof MetalBondError ? e.message : String(e));
      }
    }
    return out;
  };
}

/** A whole number >= 1. */
export function parseCount(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
    throw new CommanderArgError('must be a whole number >= 1');
  }
  return Number(value);
}

/** Runs `stop` once on the first SIGINT/SIGTERM, then exits with `code`. */
export function onSignals(stop: () => Promise<void>, log: Logger): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** One clear line on stderr and exit code 1 for runtime failures. */
export function fail(e: unknown): never {
  const msg = e instanceof MetalBondError ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`tsbond: ${msg}\n`);
  process.exit(1);
}
