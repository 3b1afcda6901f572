import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const example = (name: string): string =>
  fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

describe('examples stay runnable', () => {
  it('examples/basic.ts', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', example('basic.ts')], {
      timeout: 20000,
    });
    assert.match(stdout, /hv-b: \+ VNI 100 10\.0\.1\.0\/24 via 2001:db8::1\n/);
    assert.match(stdout, /hv-b: - VNI 100 10\.0\.1\.0\/24 via 2001:db8::1\n/);
    assert.match(
      stdout,
      /server holds 1 route\(s\); b holds:\n {2}VNI 100 10\.0\.2\.0\/24 via 2001:db8::1 \[NAT ports 1024-2048\]\n/,
    );
  });

  it('examples/ha-client.ts', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', example('ha-client.ts')], {
      timeout: 20000,
    });
    assert.match(stdout, /agent: \+ VNI 100 10\.0\.7\.0\/24 via 2001:db8::7\n/);
    assert.match(stdout, /route reported by 2 servers; stopping server 1\n/);
    assert.match(stdout, /agent: 1 route\(s\) stale for server \[::1\]:\d+\n/);
    assert.match(
      stdout,
      /still held: VNI 100 10\.0\.7\.0\/24 via 2001:db8::7, carried by 2 servers\n/,
    );
    assert.doesNotMatch(stdout, /agent: - /);
  });
});
