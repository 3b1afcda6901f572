/** Structured logging (pino): one line per event, JSON or human-readable, to stderr by default. */

import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  readonly level?: string;
  readonly format?: LogFormat;
  /** Destination file descriptor; 2 (stderr) by default. */
  readonly fd?: number;
  readonly name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  const base = { name: options.name ?? 'tsbond' };
  if (options.format === 'pretty') {
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
