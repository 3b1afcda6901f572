/**
 * Fan-out over mutual TLS beside plain TCP (issue 14; target: over TLS at least half of plain
 * TCP). The default fleet (--clients default tsbond peers, REASSEMBLY, counted exactly), unpaced
 * unless --tls-rate, once over plain TCP and once over TLS per round, alternating, medians of the
 * delivered updates/s compared.
 *
 * - tsbond: `tsbond server` with the run's flags; over TLS with `--tls-listen [::1]:PORT
 *   --tls-cert F --tls-key F --tls-ca F` added (a free port chosen here, as for the Go server:
 *   the probe cannot tell the port of a listener it does not know), clients connecting to that
 *   listener with a certificate each. Measured only when `tsbond server --help` lists
 *   --tls-listen; until then reported as not measured.
 * - forwarder (when --server includes it, as in the smoke run): bench/forwarder.ts with and
 *   without its TLS files: the ceiling over TLS, and a test of the generator's TLS path.
 *
 * Certificates: generated for the run with the openssl CLI (lib/tls-certs.ts) into a temporary
 * directory, removed at the end.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ExtraContext, ExtraFigure, ExtraModule, ExtraResult } from './extra.js';
import { intArg } from './extra.js';
import { runFanout, type FanoutOptions } from './fanout.js';
import type { FanoutResult } from './fanout-result.js';
import { fmtPct, fmtRate, mdTable } from './format.js';
import { REPO_ROOT, freePort } from './procs.js';
import { medianOf as median } from './results.js';
import { HOST, SERVER_LABEL, waitListening, type ServerKind } from './servers.js';
import { generateTlsFiles, opensslAvailable, type TlsFiles } from './tls-certs.js';

const TARGET = 0.5;

export type Transport = 'tcp' | 'tls';

export interface TlsFanoutRun {
  readonly server: ServerKind;
  readonly transport: Transport;
  readonly round: number;
  readonly result: FanoutResult;
}

/** Whether `tsbond server --help` (the CLI from this tree) lists --tls-listen. */
export function tsbondHasTls(): boolean {
  const help = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'server', '--help'],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return help.includes('--tls-listen');
}

/** The server's flags for a TLS run. */
function tlsFlags(kind: ServerKind, f: TlsFiles, port: number): string[] {
  const files = ['--tls-cert', f.server.cert, '--tls-key', f.server.key, '--tls-ca', f.ca];
  return kind === 'tsbond' ? ['--tls-listen', `[${HOST}]:${String(port)}`, ...files] : files;
}

async function oneRun(
  ctx: ExtraContext,
  kind: ServerKind,
  transport: Transport,
  files: TlsFiles,
  base: FanoutOptions,
): Promise<FanoutResult> {
  await ctx.background(`fanout-tls ${kind} ${transport}`);
  const tlsPort = transport === 'tls' && kind === 'tsbond' ? await freePort(HOST) : 0;
  const flags =
    transport === 'tcp'
      ? undefined
      : [...(kind === 'tsbond' ? ctx.serverFlags : []), ...tlsFlags(kind, files, tlsPort)];
  const server = await ctx.startServer(kind, flags);
  try {
    if (tlsPort !== 0) await waitListening(tlsPort);
    const o: FanoutOptions =
      transport === 'tcp'
        ? base
        : {
            ...base,
            tls: {
              ...(tlsPort === 0 ? {} : { port: tlsPort }),
              ca: files.ca,
              clients: files.clients,
            },
          };
    return await runFanout(server, o);
  } finally {
    await server.stop();
  }
}

const passes = (r: FanoutResult): boolean => r.ok && r.deliveryRatio === 1;

function rows(runs: readonly TlsFanoutRun[]): string[][] {
  return runs.map((x) => {
    const r = x.result;
    return [
      String(x.round),
      SERVER_LABEL[x.server],
      x.transport === 'tls' ? 'mutual TLS' : 'plain TCP',
      fmtRate(r.sentPerSec),
      fmtRate(r.deliveredPerSec),
      fmtPct(r.deliveryRatio),
      `${(r.cpu.server * 100).toFixed(0)}%`,
      `${(r.cpu.generators * 100).toFixed(0)}%`,
      r.limitedBy,
    ];
  });
}

const HEADER = [
  'round',
  'server',
  'transport',
  'sent upd/s',
  'delivered upd/s',
  'delivery',
  'server CPU',
  'generators CPU',
  'limited by',
];

export async function runTlsFanout(ctx: ExtraContext): Promise<ExtraResult> {
  const title = 'fan-out over mutual TLS / plain TCP, tsbond (medians)';
  const kinds = ctx.servers.filter((k) => k === 'tsbond' || k === 'forwarder');
  if (!opensslAvailable()) {
    return { ok: true, problems: [], figures: [], skipped: 'the openssl CLI is not installed' };
  }
  const tsbondTls = kinds.includes('tsbond') && tsbondHasTls();
  const noTls = 'tsbond server has no --tls-listen yet (issue 14): prepared, not run';
  const measured = kinds.filter((k) => k === 'forwarder' || tsbondTls);
  const tsbondFigure = (): ExtraFigure => ({
    figure: title,
    value: `not measured: ${noTls}`,
    target: '>= 50%',
    notMeasured: noTls,
  });
  if (measured.length === 0) {
    return {
      ok: true,
      problems: [],
      figures: kinds.includes('tsbond') ? [tsbondFigure()] : [],
      skipped: kinds.includes('tsbond') ? noTls : 'neither tsbond nor the forwarder asked for',
    };
  }
  const rounds = ctx.smoke ? 1 : intArg(ctx, 'tls-rounds', ctx.options.all ? 3 : 1, 1);
  const rate = ctx.smoke ? 0 : intArg(ctx, 'tls-rate', 0, 0);
  const base = ctx.fanoutOptions('tsbond', rate);
  const clients = ctx.options.fanout.clients;
  const dir = mkdtempSync(join(tmpdir(), 'tsbond-bench-tls-'));
  const runs: TlsFanoutRun[] = [];
  try {
    ctx.progress(`certificates: a CA, a server and ${String(clients)} clients (openssl)`);
    const files = generateTlsFiles(dir, clients);
    for (let round = 1; round <= rounds; round++) {
      const order: Transport[] = round % 2 === 1 ? ['tcp', 'tls'] : ['tls', 'tcp'];
      for (const kind of measured) {
        for (const transport of order) {
          ctx.progress(`round ${String(round)}/${String(rounds)}: ${kind} over ${transport}`);
          const result = await oneRun(ctx, kind, transport, files, base);
          runs.push({ server: kind, transport, round, result });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const problems = runs
    .filter((x) => !passes(x.result))
    .map(
      (x) =>
        `round ${String(x.round)} ${x.server} over ${x.transport}: ` +
        (x.result.problems.length > 0
          ? x.result.problems.join('; ')
          : `delivery ${fmtPct(x.result.deliveryRatio)}`),
    );
  const figures: ExtraFigure[] = [];
  const lines: string[] = [];
  const mode = rate > 0 ? `paced ${fmtRate(rate)}/s` : 'unpaced';
  const cmd =
    `node --import tsx bench/run.ts fanout-tls --server ${measured.join(',')} ` +
    `--tls-rounds ${String(rounds)}${rate > 0 ? ` --tls-rate ${String(rate)}` : ''}`;
  for (const kind of measured) {
    const med = (t: Transport): number =>
      median(
        runs
          .filter((x) => x.server === kind && x.transport === t)
          .map((x) => x.result.deliveredPerSec),
      );
    const tcp = med('tcp');
    const tls = med('tls');
    const ratio = tls / tcp;
    const allPass = runs.filter((x) => x.server === kind).every((x) => passes(x.result));
    const value = `${fmtRate(tls)}/s over TLS vs ${fmtRate(tcp)}/s over TCP = ${fmtPct(ratio)}`;
    lines.push(`${SERVER_LABEL[kind]}: ${value}${allPass ? '' : ' (some runs failed)'}`);
    figures.push({
      figure:
        kind === 'tsbond'
          ? `${title.replace(' (medians)', '')}, ${mode} (medians of ${String(rounds)})`
          : `forwarder (ceiling): fan-out over mutual TLS / plain TCP, ${mode}`,
      value,
      ...(kind === 'tsbond' && !ctx.smoke
        ? { target: '>= 50%', met: ratio >= TARGET && allPass }
        : {}),
      command: cmd,
      defaults: kind !== 'tsbond' || ctx.serverFlags.length === 0,
    });
  }
  if (kinds.includes('tsbond') && !tsbondTls) figures.push(tsbondFigure());
  for (const l of lines) ctx.progress(l);
  const markdown = [
    `${String(clients)} default tsbond peers (REASSEMBLY, counted exactly) on one VNI, ${mode}, ` +
      `the same fleet over plain TCP and over mutual TLS (ECDSA P-256 certificates made for ` +
      `the run, one per client), alternating, ${String(rounds)} round(s).` +
      (kinds.includes('tsbond') && !tsbondTls ? ` tsbond: ${noTls}.` : ''),
    '',
    `Command: \`${cmd}\`.`,
    '',
    mdTable(HEADER, rows(runs)),
    '',
    ...lines.map((l) => `- ${l}`),
  ].join('\n');
  return {
    ok: problems.length === 0,
    problems,
    figures,
    markdown,
    data: runs.map((x) => ({ ...x, result: { ...x.result, samples: [] } })),
  };
}

export const tlsFanoutModule: ExtraModule = {
  name: 'fanout-tls',
  title: 'Fan-out over mutual TLS beside plain TCP (issue 14)',
  inAll: true,
  inSmoke: true,
  options: {
    'tls-rounds': { type: 'string', min: 1 },
    'tls-rate': { type: 'string', min: 0 },
  },
  help: `TLS fan-out (fanout-tls): the default fleet over plain TCP and over mutual TLS, alternating;
tsbond once \`tsbond server --help\` lists --tls-listen, the forwarder when --server has it
  --tls-rounds N       rounds (each: a TCP and a TLS run per server) (default 3 for 'all', else 1)
  --tls-rate N         paced rate, updates/s in (default 0 = unpaced)`,
  run: runTlsFanout,
};
