/** Warnings and errors of the servers under test, grouped by message, from their log files. */

import { execFile } from 'node:child_process';

/**
 * Go log lines worth counting: every warning/error/fatal/panic line grouped by message (resets
 * under load, crashes), plus the info-level lines that say why a session ended.
 */
export async function goLogSummary(file: string): Promise<Record<string, number>> {
  return summarizeLog(
    file,
    `grep -E 'level=(warning|error|fatal|panic)|Connection timed out|^panic:' "$1" ` +
      `| sed -E 's/.*msg="([^"]*)".*/\\1/' | sort | uniq -c | sort -rn | head -n 20`,
  );
}

/** rustbond (tracing) warnings and errors grouped by message, peer addresses removed. */
export async function rustLogSummary(file: string): Promise<Record<string, number>> {
  return summarizeLog(
    file,
    `grep -E ' (WARN|ERROR) ' "$1" | sed -E 's/^[^ ]+ +(WARN|ERROR) //; s/ ?peer=[^ ]+//g' ` +
      `| sort | uniq -c | sort -rn | head -n 20`,
  );
}

async function summarizeLog(file: string, script: string): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script, 'log-summary', file], (_err, stdout) => {
      const out: Record<string, number> = {};
      for (const line of stdout.split('\n')) {
        const m = /^\s*(\d+) (.*)$/.exec(line);
        if (m?.[1] !== undefined && m[2] !== undefined) out[m[2].slice(0, 120)] = Number(m[1]);
      }
      resolve(out);
    });
  });
}

/**
 * tsbond warnings and errors (pino JSON lines, level >= 40) grouped by message: the server logs
 * at the CLI's default info level, where every connect and close is a line of its own.
 */
export async function tsbondLogSummary(file: string): Promise<Record<string, number>> {
  return summarizeLog(
    file,
    `grep -E '"level":(40|50|60)' "$1" | sed -E 's/.*"msg":"([^"]*)".*/\\1/' ` +
      `| sort | uniq -c | sort -rn | head -n 20`,
  );
}
