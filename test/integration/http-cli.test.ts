import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { until } from '../helpers/http-fixture.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

interface Cli {
  stderr: string[];
  stdout: string[];
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function cli(t: TestContext, args: string[]): Cli {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const out = { stdout: [] as string[], stderr: [] as string[] };
  for (const name of ['stdout', 'stderr'] as const) {
    let buf = '';
    proc[name].setEncoding('utf8');
    proc[name].on('data', (c: string) => {
      buf += c;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      out[name].push(...parts);
    });
  }
  return {
    ...out,
    exited: once(proc, 'exit').then(([code]) => code as number | null),
    kill: (s) => proc.kill(s),
  };
}

interface LogLine {
  msg: string;
  listen?: string;
  url?: string;
  level: number;
}

function logs(c: Cli): LogLine[] {
  return c.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

async function listening(c: Cli, n: number): Promise<string[]> {
  await until(
    () => logs(c).filter((l) => l.msg === 'HTTP listening').length >= n,
    'HTTP listening',
    15_000,
  );
  return logs(c)
    .filter((l) => l.msg === 'HTTP listening')
    .map((l) => `http://${l.listen ?? ''}/`);
}

describe('CLI: --http and --metrics', () => {
  it('tsbond server --http --metrics: page and routes on one, metrics and health on the other; SIGTERM stops both', async (t) => {
    const c = cli(t, [
      'server',
      '-l',
      '[::1]:0',
      '--http',
      '[::1]:0',
      '--metrics',
      '[::1]:0',
      '--log-format',
      'json',
    ]);
    const [http = '', metrics = ''] = await listening(c, 2);
    assert.ok(logs(c).some((l) => l.msg === 'status page' && l.url === http));
    assert.equal((await fetch(`${http}routes.json`)).status, 200);
    assert.match(await (await fetch(http)).text(), /<title>tsbond<\/title>/);
    assert.equal((await fetch(`${http}readyz`)).status, 200);
    assert.equal((await fetch(`${metrics}metrics`)).status, 200);
    assert.equal((await fetch(`${metrics}healthz`)).status, 200);
    assert.equal((await fetch(`${metrics}routes.json`)).status, 404);
    c.kill('SIGTERM');
    assert.equal(await c.exited, 0);
    await assert.rejects(fetch(`${http}healthz`));
  });

  it('tsbond client --http: not ready while no server is reachable', async (t) => {
    const c = cli(t, [
      'client',
      '-s',
      '[::1]:1',
      '-v',
      '100',
      '--http',
      '[::1]:0',
      '--log-format',
      'json',
    ]);
    const [http = ''] = await listening(c, 1);
    const r = await fetch(`${http}readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /no server session established/);
    const status = (await (await fetch(`${http}api/status`)).json()) as { role: string };
    assert.equal(status.role, 'client');
    c.kill('SIGINT');
    assert.equal(await c.exited, 0);
  });

  it('a port in use: one clear line and exit code 1', async (t) => {
    const first = cli(t, ['server', '-l', '[::1]:0', '--http', '[::1]:0', '--log-format', 'json']);
    const [http = ''] = await listening(first, 1);
    const port = new URL(http).port;
    const second = cli(t, [
      'server',
      '-l',
      '[::1]:0',
      '--http',
      `[::1]:${port}`,
      '--log-format',
      'json',
    ]);
    assert.equal(await second.exited, 1);
    assert.ok(
      second.stderr.some((l) =>
        /^tsbond: cannot listen on \[::1\]:\d+ \(HTTP\): address already in use$/.test(l),
      ),
      second.stderr.join('\n'),
    );
  });
});

describe('logs', () => {
  it('JSON lines when stderr is not a terminal; readable lines with --log-format pretty', async (t) => {
    const json = cli(t, ['server', '-l', '[::1]:0']);
    await until(() => json.stderr.length > 0, 'a log line', 15_000);
    const first = JSON.parse(json.stderr[0] ?? '') as LogLine;
    assert.equal(first.msg, 'server listening');
    json.kill('SIGTERM');
    await json.exited;
    const pretty = cli(t, ['server', '-l', '[::1]:0', '--log-format', 'pretty']);
    await until(() => pretty.stderr.length > 0, 'a log line', 15_000);
    assert.match(pretty.stderr[0] ?? '', /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: server listening/);
    pretty.kill('SIGTERM');
    await pretty.exited;
  });

  it('importing the library does not load pino-pretty (and readable logs do)', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const req = createRequire(import.meta.url);
      const loaded = () => Object.keys(req.cache).some((k) => k.includes('/pino-pretty/'));
      const lib = await import(${JSON.stringify(INDEX)});
      lib.createLogger({ format: 'json', fd: 1 });
      const before = loaded();
      lib.createLogger({ format: 'pretty', fd: 1 });
      process.stderr.write(JSON.stringify({ before, after: loaded() }));
    `;
    const { stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    assert.deepEqual(JSON.parse(stderr), { before: false, after: true });
  });
});
