/**
 * Structured logging (pino): one line per event, to stderr by default. JSON for machines, or
 * readable lines (pino-pretty) for people at a terminal. pino-pretty is loaded only when readable
 * output is asked for, so a library consumer importing tsbond never loads it.
 */

import { createRequire } from 'node:module';

import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  readonly level?: string;
  /** Default: 'pretty' when the destination is a terminal, 'json' otherwise. */
  readonly format?: LogFormat;
  /** Destination file descriptor; 2 (stderr) by default. */
  readonly fd?: number;
  readonly name?: string;
}

const require = createRequire(import.meta.url);

/** The default format for a file descriptor: readable on a terminal, JSON otherwise. */
export function defaultLogFormat(fd = 2): LogFormat {
  const stream = fd === 1 ? process.stdout : fd === 2 ? process.stderr : undefined;
  return stream?.isTTY === true ? 'pretty' : 'json';
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  const base = { name: options.name ?? 'tsbond' };
  const format = options.format ?? defaultLogFormat(fd);
  if (format === 'pretty') {
    const pretty = require('pino-pretty') as typeof PinoPretty;
    const stream = pretty({
      destination: fd,
      colorize: false,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
      sync: true,
    });
    return pino({ level, base }, stream);
  }
  return pino({ level, base }, pino.destination({ dest: fd, sync: true }));
}

/** A logger that drops everything: the library default, so embedding it prints nothing unasked. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
