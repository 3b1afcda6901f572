/**
 * The tsbond CLI (`src/cli/main.ts` through tsx) as a child process whose output lines the test
 * reads as they come: `waitLine` resolves on the first matching line, without polling.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliRun {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** The exit code once every output line has been read ('close'). */
  exited: Promise<number | null>;
  waitLine(stream: 'stdout' | 'stderr', re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with every matching line once there are at least `n`. */
  waitLines(
    stream: 'stdout' | 'stderr',
    re: RegExp,
    n: number,
    timeoutMs?: number,
  ): Promise<string[]>;
}

export interface CliOptions {
  /** Command and arguments to run the CLI under (e.g. `ip netns exec NS`). */
  readonly prefix?: readonly string[];
  /** Default timeout of waitLine (default 10 s). */
  readonly waitMs?: number;
}

/** Starts `tsbond ARGS`; killed (SIGKILL) after the test if still running. */
export function runCli(t: TestContext, args: readonly string[], o: CliOptions = {}): CliRun {
  const argv = [process.execPath, '--import', 'tsx', CLI_MAIN, ...args];
  const [cmd, ...rest] = [...(o.prefix ?? []), ...argv];
  const proc = spawn(cmd ?? process.execPath, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  for (const name of ['stdout', 'stderr'] as const) {
    let buf = '';
    proc[name].setEncoding('utf8');
    proc[name].on('data', (chunk: string) => {
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines[name].push(...parts);
      wake();
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    proc.on('close', (code) => {
      resolve(code);
      wake();
    });
  });
  const run: CliRun = {
    proc,
    ...lines,
    exited,
    async waitLine(stream, re, timeoutMs) {
      const [hit = ''] = await run.waitLines(stream, re, 1, timeoutMs);
      return hit;
    },
    async waitLines(stream, re, n, timeoutMs = o.waitMs ?? 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hits = lines[stream].filter((l) => re.test(l));
        if (hits.length >= n) return hits;
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(
            `exited ${String(proc.exitCode ?? proc.signalCode)} before ${String(re)} on ${stream}; stderr: ${lines.stderr.join('\n')}`,
          );
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(
            `timeout waiting for ${String(n)} x ${String(re)}; ${stream}: ${lines[stream].join('\n')}`,
          );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
  return run;
}
