/**
 * Network namespaces for the kernel tests: one per test, with a veth pair t0/t1 (t0 stands in for
 * the ip6tnl device; this kernel has no ip6tnl) and lo up, deleted after the test even when it
 * fails. Inspection through `ip -n NS -json ...`.
 *
 * Without root the kernel tests are skipped with the reason, except under CI=true, where a missing
 * root is a failure.
 */

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function reason(): string | undefined {
  if (process.platform !== 'linux') return 'kernel routes need Linux';
  if (process.getuid?.() !== 0) return 'kernel tests need root (network namespaces)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'kernel tests need iproute2 (ip)';
  return undefined;
}

const why = reason();
const inCi = process.env.CI === 'true';

/** The `skip` option of the kernel suites: a reason outside CI, false under CI (they then fail). */
export const SKIP: string | false = why !== undefined && !inCi ? why : false;

/** Under CI, the requirement itself is a test that fails. */
export function assertKernelTestable(): void {
  assert.equal(why, undefined, `kernel tests cannot run: ${why ?? ''}`);
}

let counter = 0;

/** A route as `ip -json route show` prints it. Its JSON repeats keys ("dst" is the route's
 * destination and again each encap destination), so it is read in order, not with JSON.parse. */
export interface ShownRoute {
  readonly dst: string;
  readonly nhid: number | undefined;
  /** Encap destinations, sorted. */
  readonly hops: string[];
  readonly protocol: string | undefined;
  readonly text: string;
}

export interface ShownNexthop {
  readonly id: number;
  readonly group: number[] | undefined;
  /** Encap destination. */
  readonly dst: string | undefined;
  readonly protocol: string | undefined;
  readonly text: string;
}

/** Top-level objects of a JSON array, as text. */
function objects(json: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}') {
      if (--depth === 0) out.push(json.slice(start, i + 1));
    }
  }
  return out;
}

function strings(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`"${key}":"([^"]*)"`, 'g'))].map((m) => m[1] ?? '');
}

function firstNumber(text: string, key: string): number | undefined {
  const m = new RegExp(`"${key}":(\\d+)`).exec(text);
  return m === null ? undefined : Number(m[1]);
}

export function parseRoutes(json: string): ShownRoute[] {
  return objects(json).map((text) => {
    const [dst = '', ...hops] = strings(text, 'dst');
    return {
      dst,
      nhid: firstNumber(text, 'nhid'),
      hops: hops.sort(),
      protocol: strings(text, 'protocol')[0],
      text,
    };
  });
}

export function parseNexthops(json: string): ShownNexthop[] {
  return objects(json).map((text) => {
    const g = /"group":\[([^\]]*)\]/.exec(text);
    return {
      id: firstNumber(text, 'id') ?? 0,
      group:
        g === null ? undefined : [...(g[1] ?? '').matchAll(/"id":(\d+)/g)].map((m) => Number(m[1])),
      dst: strings(text, 'dst')[0],
      protocol: strings(text, 'protocol')[0],
      text,
    };
  });
}

export class Netns {
  constructor(readonly name: string) {}

  async ip(...args: string[]): Promise<string> {
    const { stdout } = await run('ip', ['-n', this.name, ...args]);
    return stdout;
  }

  /** Routes of a table (both families); [] when the table does not exist. */
  async routes(table: number, ...filter: string[]): Promise<ShownRoute[]> {
    const out: ShownRoute[] = [];
    for (const fam of ['-4', '-6']) {
      try {
        out.push(
          ...parseRoutes(
            await this.ip(fam, '-json', 'route', 'show', 'table', String(table), ...filter),
          ),
        );
      } catch (e) {
        if (!String(e).includes('does not exist')) throw e;
      }
    }
    return out;
  }

  /** Our routes of a table as `prefix -> sorted hops`. */
  async table(table: number): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const r of await this.routes(table, 'proto', '254')) out[r.dst] = r.hops;
    return out;
  }

  async nexthops(): Promise<ShownNexthop[]> {
    return parseNexthops(await this.ip('-json', 'nexthop', 'show'));
  }
}

/** Polls `fn` until it returns true (or throws the last assertion after `timeoutMs`). */
export async function eventually(
  fn: () => Promise<void> | void,
  timeoutMs = 5000,
  stepMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
}

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
}

/** A fresh namespace (veth t0/t1 up, lo up), deleted after the test. */
export async function netns(t: HasAfter): Promise<Netns> {
  const name = `tsbk-${String(process.pid)}-${String(++counter)}-${Math.random().toString(36).slice(2, 7)}`;
  await run('ip', ['netns', 'add', name]);
  t.after(async () => {
    // Processes still in it (a test that failed half-way) first, then the namespace.
    try {
      const { stdout } = await run('ip', ['netns', 'pids', name]);
      for (const pid of stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // no such namespace
    }
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
  });
  const ns = new Netns(name);
  await ns.ip('link', 'set', 'lo', 'up');
  await ns.ip('link', 'add', 't0', 'type', 'veth', 'peer', 'name', 't1');
  await ns.ip('link', 'set', 't0', 'up');
  await ns.ip('link', 'set', 't1', 'up');
  return ns;
}
