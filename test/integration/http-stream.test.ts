/**
 * A 1,000,000-route table streamed as /routes.json and /routes.yaml, and queried with filters,
 * while the server's event loop is watched: the work is cut into slices of 4 ms, so it is never
 * held for more than 10 ms. The server runs in its own process (test/helpers/stream-server.ts,
 * with --single-threaded so that its CPU time is its main thread's); the table is generated as it
 * is walked, and the exporter still collects and sorts each VNI.
 */

import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { RouteQueryResult } from '../../src/http/route-query.js';
import { describeLoop, type LoopStats } from '../helpers/loop-watch.js';

const N = 1_000_000;
const SERVER = fileURLToPath(new URL('../helpers/stream-server.ts', import.meta.url));

/** Reads a response as a stream, counting bytes and markers without keeping the body. */
function stream(
  port: number,
  path: string,
  marker: string,
): Promise<{ status: number; bytes: number; markers: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '::1', port, path, headers: { host: `[::1]:${String(port)}` } },
      (res) => {
        let bytes = 0;
        let markers = 0;
        let carry = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          bytes += c.length;
          const text = carry + c;
          let i = 0;
          while ((i = text.indexOf(marker, i)) !== -1) {
            markers++;
            i += marker.length;
          }
          carry = text.slice(-(marker.length - 1));
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, bytes, markers });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * The exporter and the query yield every 4 ms, so on a quiet machine no gap passes 10 ms. On the
 * shared 2-core machine this was written on (load average 8-10) some do anyway: even a pure
 * computation loop cut into the same 4 ms slices shows gaps of 12 ms (a VM's stolen time is
 * charged to whoever runs), and single-threaded garbage collection pauses reach 20-50 ms. So the
 * test asks that 99% of the ticks stay under 10 ms and none passes 100 ms, and reports the longest:
 * code that does not yield (a synchronous sort or walk of a million routes) holds the loop for a
 * second or more and fails both.
 */
function assertSliced(l: LoopStats, what: string): void {
  assert.ok(l.ticks > 100, `${what}: measured`);
  assert.ok(l.over <= l.ticks / 100, `${what}: ${describeLoop(l)}`);
  assert.ok(l.maxMs < 100, `${what}: ${describeLoop(l)}`);
}

describe('HTTP: a million routes, streamed in slices', { timeout: 240_000 }, () => {
  let child: ChildProcess;
  let port = 0;

  before(async () => {
    child = fork(SERVER, [String(N)], {
      execArgv: ['--single-threaded', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const [hello] = (await once(child, 'message')) as [{ port: number }];
    port = hello.port;
  });

  after(() => {
    child.disconnect();
  });

  async function measured<T>(work: () => Promise<T>): Promise<{ result: T; loop: LoopStats }> {
    child.send('start');
    await once(child, 'message');
    const result = await work();
    child.send('stop');
    const [m] = (await once(child, 'message')) as [{ stats: LoopStats }];
    return { result, loop: m.stats };
  }

  for (const [path, marker] of [
    ['/routes.json', '"TargetAddress"'],
    ['/routes.yaml', '- targetaddress:'],
  ] as const) {
    it(`${path}: all ${String(N)} routes, the event loop not held > 10 ms`, async (t) => {
      const { result, loop } = await measured(() => stream(port, path, marker));
      t.diagnostic(`${path}: ${String(result.bytes)} bytes; ${describeLoop(loop)}`);
      assert.equal(result.status, 200);
      assert.equal(result.markers, N, `${path}: every route`);
      assertSliced(loop, path);
    });
  }

  it('a filtered query over the million routes: answered, in slices', async (t) => {
    const { result, loop } = await measured(async () => {
      const res = await fetch(
        `http://[::1]:${String(port)}/api/routes?prefix=10.15.&nexthop=2001:db8::1&limit=50`,
      );
      return (await res.json()) as RouteQueryResult & { tookMs: number };
    });
    t.diagnostic(
      `query: ${String(result.tookMs)} ms, ${String(result.scanned)} scanned; ${describeLoop(loop)}`,
    );
    assert.equal(result.rows.length, 50);
    assert.ok(
      result.rows.every(
        (r) => r.prefix.startsWith('10.15.') && r.nextHop.startsWith('2001:db8::1'),
      ),
    );
    assertSliced(loop, 'query');
  });
});
