/**
 * A status server over a generated 1,000,000-route table, in its own process (started by
 * test/integration/http-stream.test.ts with --single-threaded), measuring its own event loop while
 * the parent streams from it. IPC: sends {port}; answers 'start' with {started} and 'stop' with
 * the LoopStats of the interval.
 */

import { StatusServer } from '../../src/http/status-server.js';
import { fakeSource, generatedRows } from './http-fixture.js';
import { LoopWatch } from './loop-watch.js';

const N = Number(process.argv[2] ?? 1_000_000);
const source = fakeSource(
  new Map([
    [100, generatedRows(100, N - 1000)],
    [7, generatedRows(7, 1000)],
  ]),
  new Map([
    [100, N - 1000],
    [7, 1000],
  ]),
);
const http = await StatusServer.start(source, { listen: '[::1]:0' });
let watch: LoopWatch | undefined;
process.on('message', (m: unknown) => {
  if (m === 'start') {
    watch = new LoopWatch();
    process.send?.({ started: true });
  } else if (m === 'stop') {
    process.send?.({ stats: watch?.stop() });
  }
});
process.on('disconnect', () => {
  void http.close().then(() => process.exit(0));
});
process.send?.({ port: http.address.port });
