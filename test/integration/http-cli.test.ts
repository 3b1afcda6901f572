import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { runCli, type CliRun } from '../helpers/cli-process.js';
const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

interface LogLine {
  msg: string;
  listen?: string;
  url?: string;
  level: number;
}

function logs(c: CliRun): LogLine[] {
  return c.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/** The URLs of the first `n` HTTP listeners the CLI logged. */
async function listening(c: CliRun, n: number): Promise<string[]> {
  const lines = await c.waitLines('stderr', /"msg":"HTTP listening"/, n, 15_000);
  return lines.map((l) => `http://${(JSON.parse(l) as LogLine).listen ?? ''}/`);
}

describe('CLI: --http and --metrics', () => {
  it('tsbond server --http --metrics: page and routes on one, metrics and health on the other; SIGTERM stops both', async (t) => {
    const c = runCli(t, [
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
    c.proc.kill('SIGTERM');
    assert.equal(await c.exited, 0);
    await assert.rejects(fetch(`${http}healthz`));
  });

  it('tsbond client --http: not ready while no server is reachable', async (t) => {
    const c = runCli(t, [
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
    c.proc.kill('SIGINT');
    assert.equal(await c.exited, 0);
  });

  it('a port in use: one clear line and exit code 1', async (t) => {
    const first = runCli(t, [
      'server',
      '-l',
      '[::1]:0',
      '--http',
      '[::1]:0',
      '--log-format',
      'json',
    ]);
    const [http = ''] = await listening(first, 1);
    const port = new URL(http).port;
    const second = runCli(t, [
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
    const json = runCli(t, ['server', '-l', '[::1]:0']);
    const first = JSON.parse(await json.waitLine('stderr', /./, 15_000)) as LogLine;
    assert.equal(first.msg, 'server listening');
    json.proc.kill('SIGTERM');
    await json.exited;
    const pretty = runCli(t, ['server', '-l', '[::1]:0', '--log-format', 'pretty']);
    assert.match(
      await pretty.waitLine('stderr', /./, 15_000),
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: server listening/,
    );
    pretty.proc.kill('SIGTERM');
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
