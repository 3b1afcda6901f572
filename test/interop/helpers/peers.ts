/**
 * The reference peers: Go MetalBond v0.5.0 (`.peers/metalbond`) and our rustbond 0.1.3 driver
 * (`.peers/rustbond-peer`), built by test/interop/build-peers.sh (idempotent, cached).
 *
 * Every interop test calls requirePeers() first. It runs build-peers.sh once per test process and
 * peer kind. When a toolchain (go, cargo) is missing outside CI, the test is reported as skipped
 * with the reason; under CI=true a missing toolchain or a failed build fails the test.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export type PeerKind = 'go' | 'rust';

export const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url));
/** $TSBOND_PEERS_DIR (set and not empty, as build-peers.sh reads it) or <repo>/.peers. */
export const PEERS_DIR =
  process.env.TSBOND_PEERS_DIR !== undefined && process.env.TSBOND_PEERS_DIR !== ''
    ? process.env.TSBOND_PEERS_DIR
    : join(REPO_DIR, '.peers');
const BUILD_SCRIPT = join(REPO_DIR, 'test/interop/build-peers.sh');
const BUILD_TIMEOUT_MS = 20 * 60 * 1000;

export const GO_METALBOND_VERSION = 'v0.5.0';
export const RUSTBOND_VERSION = '0.1.3';

const BINARIES: Record<PeerKind, string> = {
  go: join(PEERS_DIR, 'metalbond'),
  rust: join(PEERS_DIR, 'rustbond-peer'),
};
const TOOLCHAINS: Record<PeerKind, string> = { go: 'go', rust: 'cargo' };

export interface Peers {
  /** Go MetalBond CLI */
  readonly metalbond: string;
  /** rustbond-peer driver */
  readonly rustbondPeer: string;
}

type BuildResult = { ok: true } | { ok: false; missingToolchain: boolean; reason: string };

const builds = new Map<PeerKind, Promise<BuildResult>>();

function buildOnce(kind: PeerKind): Promise<BuildResult> {
  let p = builds.get(kind);
  if (p === undefined) {
    p = build(kind);
    builds.set(kind, p);
  }
  return p;
}

/** Upper bound for building both peers from scratch (a cold Rust build takes minutes). */
export const PEER_BUILD_TIMEOUT_MS = 25 * 60 * 1000;

/**
 * Builds the peers ahead of the tests (a `before` hook, so that the tests' own timeouts do not
 * include a cold build). Never throws: each test reports an unavailable peer through
 * requirePeers().
 */
export async function warmPeers(...kinds: PeerKind[]): Promise<void> {
  await Promise.all((kinds.length === 0 ? (['go', 'rust'] as const) : kinds).map(buildOnce));
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: REPO_DIR, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

async function onPath(tool: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${tool}`], 10_000);
  return r.code === 0;
}

async function build(kind: PeerKind): Promise<BuildResult> {
  const r = await run('bash', [BUILD_SCRIPT, kind], BUILD_TIMEOUT_MS);
  if (r.code === 0 && existsSync(BINARIES[kind])) return { ok: true };
  const tool = TOOLCHAINS[kind];
  const missing = !(await onPath(tool));
  const lastLines = r.output.trim().split('\n').slice(-15).join('\n');
  return {
    ok: false,
    missingToolchain: missing,
    reason: missing
      ? `'${tool}' is not installed, so the ${kind === 'go' ? `Go MetalBond ${GO_METALBOND_VERSION}` : `rustbond ${RUSTBOND_VERSION}`} peer cannot be built (test/interop/build-peers.sh ${kind})`
      : `test/interop/build-peers.sh ${kind} failed (exit ${String(r.code)}):\n${lastLines}`,
  };
}

/**
 * Builds (if needed) and returns the peers a test uses. Returns undefined after marking the test
 * skipped when a toolchain is missing outside CI; throws (test failure) under CI=true or when a
 * build fails with the toolchain present.
 */
export async function requirePeers(
  t: TestContext,
  ...kinds: PeerKind[]
): Promise<Peers | undefined> {
  const wanted: PeerKind[] = kinds.length === 0 ? ['go', 'rust'] : kinds;
  const skips: string[] = [];
  for (const kind of wanted) {
    const r = await buildOnce(kind);
    if (r.ok) continue;
    if (process.env.CI === 'true') {
      throw new Error(`interop peer unavailable under CI=true (never skipped in CI): ${r.reason}`);
    }
    if (!r.missingToolchain) throw new Error(r.reason);
    skips.push(r.reason);
  }
  if (skips.length > 0) {
    t.skip(skips.join('; '));
    return undefined;
  }
  return { metalbond: BINARIES.go, rustbondPeer: BINARIES.rust };
}
