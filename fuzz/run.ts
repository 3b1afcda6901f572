/**
 * `npm run fuzz`: the fuzzer of issue 14. Bounded by count and time, prints a JSON summary on
 * stdout, exits 1 on any finding (and 2 on a usage error). See RELIABILITY.md.
 *
 *   node --expose-gc --import tsx fuzz/run.ts [--target decoder,session,live] [--seed N]
 *     [--decoder-count N] [--session-count N] [--live-frames N] [--live-connections N]
 *     [--seconds S] [--ci] [--out FILE]
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { fuzzDecoder, fuzzSession, type Budget, type TargetResult } from './lib/inproc.js';
import { fuzzLive, type LiveResult } from './lib/live.js';

const USAGE = `usage: fuzz/run.ts [options]
  --target LIST          decoder,session,live (default: all three)
  --seed N               first seed (default: from the clock; printed in the summary)
  --decoder-count N      inputs against the decoder (default 9400000; --ci 50000)
  --session-count N      inputs against sessions (default 600000; --ci 10000)
  --live-frames N        frames sent to the live server (default 1000000; --ci 10000)
  --live-connections N   hostile connections to the live server (default 10000; --ci 200)
  --seconds S            time bound per target (default 600; --ci 8)
  --ci                   the short run of CI
  --stacks               keep stack traces in session findings (slower)
  --out FILE             also write the summary there
`;

function num(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a number >= 0\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        target: { type: 'string' },
        seed: { type: 'string' },
        'decoder-count': { type: 'string' },
        'session-count': { type: 'string' },
        'live-frames': { type: 'string' },
        'live-connections': { type: 'string' },
        seconds: { type: 'string' },
        ci: { type: 'boolean' },
        stacks: { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`fuzz: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const ci = args.ci === true;
  const targets = (args.target ?? 'decoder,session,live').split(',').map((s) => s.trim());
  for (const t of targets) {
    if (!['decoder', 'session', 'live'].includes(t)) {
      process.stderr.write(`fuzz: unknown target '${t}'\n${USAGE}`);
      process.exit(2);
    }
  }
  const seed = num(args.seed, Date.now() % 0x7fffffff, 'seed') >>> 0;
  const seconds = num(args.seconds, ci ? 8 : 600, 'seconds');
  const budget = (count: number): Budget => ({ count, seconds, maxFindings: 20 });
  const results: (TargetResult | LiveResult)[] = [];
  const t0 = Date.now();
  let unhandled = 0;
  const onUnhandled = (e: unknown): void => {
    unhandled++;
    process.stderr.write(`fuzz: unhandled rejection in the fuzzer process: ${String(e)}\n`);
  };
  process.on('unhandledRejection', onUnhandled);
  for (const t of targets) {
    process.stderr.write(`fuzz: ${t} (seed ${String(seed)})...\n`);
    if (t === 'decoder') {
      results.push(
        await fuzzDecoder(
          seed,
          budget(num(args['decoder-count'], ci ? 50_000 : 9_400_000, 'decoder-count')),
        ),
      );
    } else if (t === 'session') {
      results.push(
        await fuzzSession(
          seed + 1,
          budget(num(args['session-count'], ci ? 10_000 : 600_000, 'session-count')),
          args.stacks === true,
        ),
      );
    } else {
      results.push(
        await fuzzLive({
          seed: seed + 2,
          frames: num(args['live-frames'], ci ? 10_000 : 1_000_000, 'live-frames'),
          connections: num(args['live-connections'], ci ? 200 : 10_000, 'live-connections'),
          seconds,
        }),
      );
    }
    const last = results[results.length - 1];
    process.stderr.write(`fuzz: ${t}: ${JSON.stringify(headline(last))}\n`);
  }
  const findings = results.reduce((n, r) => n + r.findings.length, 0) + unhandled;
  const inProcess = results
    .filter((r): r is TargetResult => r.target !== 'live')
    .reduce((n, r) => n + r.inputs, 0);
  const summary = {
    ok: findings === 0,
    seed,
    seconds: Math.round((Date.now() - t0) / 1000),
    inProcessInputs: inProcess,
    findings,
    unhandledRejections: unhandled,
    results,
  };
  const text = JSON.stringify(summary, null, 2);
  process.stdout.write(`${text}\n`);
  if (args.out !== undefined) writeFileSync(args.out, `${text}\n`);
  process.exitCode = findings === 0 ? 0 : 1;
}

function headline(r: TargetResult | LiveResult | undefined): Record<string, unknown> {
  if (r === undefined) return {};
  if (r.target === 'live') {
    const l = r as LiveResult;
    return { frames: l.framesSent, connections: l.connections, findings: l.findings.length };
  }
  const t = r as TargetResult;
  return {
    inputs: t.inputs,
    perSecond: t.inputsPerSecond,
    findings: t.findings.length,
    memory: t.memory,
  };
}

await main();
