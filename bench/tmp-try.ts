import { startServer } from './lib/servers.js';
import { RawConn } from './lib/raw-conn.js';
import { installCleanup } from './lib/procs.js';
installCleanup();
const s = await startServer('tsbond', { keepalive: 5, logDir: '/tmp/bench-try' });
console.log('flags', s.flags, 'config', JSON.stringify(await s.config()), s.rssNow());
const c = await RawConn.open('x', {
  host: s.host,
  port: s.port,
  keepalive: 5,
  keepaliveEveryMs: 2000,
  timeoutMs: 5000,
  features: 1,
  sums: true,
});
console.log('server hello features', c.counter.helloFeatures, c.counter.hellos);
c.close();
const f = await startServer('forwarder', { keepalive: 5, logDir: '/tmp/bench-try' });
const d = await RawConn.open('y', {
  host: f.host,
  port: f.port,
  keepalive: 5,
  keepaliveEveryMs: 2000,
  timeoutMs: 5000,
  features: 7,
});
console.log('fwd hello', d.counter.helloFeatures);
d.close();
await s.stop();
await f.stop();
