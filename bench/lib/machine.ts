/** The machine a run was measured on. */

import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly node: string;
  readonly go: string;
  readonly rust: string;
  /** The tsbond source measured: HEAD and whether src/ had uncommitted changes. */
  readonly source: string;
}

function version(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, [...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: `Linux ${release()}`,
    node: process.version,
    go: version('go', ['version']),
    rust: version('rustc', ['--version']),
    source: sourceVersion(),
  };
}

/** `git rev-parse` of HEAD, plus a note when src/ differs from it (read-only git commands). */
function sourceVersion(): string {
  const head = version('git', ['rev-parse', '--short', 'HEAD']);
  if (head === 'not installed') return 'unknown (not a git checkout)';
  const dirty = version('git', ['status', '--porcelain', '--', 'src']);
  return dirty === '' ? `commit ${head}` : `commit ${head} + uncommitted changes in src/`;
}
