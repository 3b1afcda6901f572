/**
 * What `npm pack` ships, and a consumer project using the packed tarball: installed offline (from
 * npm's cache), a TypeScript file importing `tsbond` typechecked with the types of the package,
 * then run (a server, its status endpoints, the page's assets).
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const npm = (args: string[], cwd: string) =>
  run('npm', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

interface PackResult {
  filename: string;
  files: { path: string }[];
}

interface LockEntry {
  dev?: boolean;
}

/**
 * Seeds a consumer's node_modules with the runtime packages installed here (from our lockfile:
 * every package not marked dev), so that `npm install --offline` of the tarball finds its
 * dependencies satisfied and needs neither the registry nor its metadata.
 */
function seedRuntimeDependencies(consumer: string): void {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Nested node_modules come along with their parent package.
    if (
      !path.startsWith('node_modules/') ||
      path.includes('/node_modules/', 1) ||
      entry.dev === true
    )
      continue;
    cpSync(join(REPO, path), join(consumer, path), { recursive: true, verbatimSymlinks: true });
  }
}

describe('npm package', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbond-pack-'));
  let pack: PackResult;

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  before(async () => {
    await npm(['run', 'build'], REPO);
    const { stdout } = await npm(
      ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
      REPO,
    );
    const parsed = JSON.parse(stdout) as PackResult[];
    pack = parsed[0] as PackResult;
  });

  it('ships dist with declarations, the page assets, README, LICENSE, CHANGELOG and docs; no dangling source maps', () => {
    const files = new Set(pack.files.map((f) => f.path));
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'docs/protocol.md',
      'docs/operations.md',
      'docs/interop.md',
      'docs/status-page.png',
      'proto/metalbond.proto',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/src/http/status-server.js',
      'dist/src/http/status-server.d.ts',
      'dist/src/http/page/index.html',
      'dist/src/http/page/main.js',
      'dist/src/http/page/page.css',
    ])
      assert.ok(files.has(f), `${f} is shipped`);
    for (const f of files) {
      assert.ok(
        !f.startsWith('test/') && !f.startsWith('bench/') && !f.startsWith('src/'),
        `${f} is not shipped`,
      );
      // Source maps would point at src/, which is not shipped.
      assert.ok(!f.endsWith('.map'), `${f}: no source maps`);
      if (f.endsWith('.js') && f.startsWith('dist/') && !f.includes('/page/'))
        assert.ok(files.has(f.replace(/\.js$/, '.d.ts')), `${f} has declarations`);
    }
  });

  it('runtime dependencies: caret ranges within a major that supports Node 20; netlink pinned exactly', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const [name, range] of Object.entries(pkg.dependencies)) {
      if (name === 'netlink') assert.equal(range, '0.3.0', 'netlink is pinned exactly');
      else assert.match(range, /^\^[1-9]\d*\.\d+\.\d+$/, `${name}: ${range}`);
    }
    assert.match(pkg.dependencies.commander ?? '', /^\^14\./, 'commander 15 needs Node 22');
  });

  it('a consumer project installs the tarball offline, typechecks against its types and runs it', async () => {
    const consumer = join(dir, 'consumer');
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    seedRuntimeDependencies(consumer);
    await npm(
      [
        'install',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        join(dir, pack.filename),
      ],
      consumer,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules/@types')],
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'main.ts'),
      `import {
  MetalBondServer,
  serverStatusSource,
  startStatusServer,
  parseDestination,
  nextHop,
  type Route,
  type StatusSource,
} from 'tsbond';

const r: Route = { destination: parseDestination('10.0.1.0/24'), nextHop: nextHop('2001:db8::1') };
const server = await MetalBondServer.start('[::1]:0');
const source: StatusSource = serverStatusSource(server);
const http = await startStatusServer(serverStatusSource(server), { listen: '[::1]:0' });
const page = await (await fetch(http.url)).text();
const health = await (await fetch(http.url + 'healthz')).text();
const metrics = await (await fetch(http.url + 'metrics')).text();
await http.close();
await server.shutdown();
process.stdout.write(JSON.stringify({
  route: r.destination.address,
  role: source.role,
  page: page.includes('<title>tsbond</title>') && page.includes('EventSource'),
  health,
  metrics: metrics.includes('tsbond_routes{family="ipv4",type="standard"} 0'),
}));
`,
    );
    await run(
      process.execPath,
      [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
      { cwd: consumer },
    );
    const { stdout } = await run(process.execPath, ['out/main.js'], { cwd: consumer });
    assert.deepEqual(JSON.parse(stdout), {
      route: '10.0.1.0',
      role: 'server',
      page: true,
      health: 'ok\n',
      metrics: true,
    });
  });
});
