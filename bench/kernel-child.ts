/**
 * Kernel benchmark, installer side: runs inside the benchmark's network namespace (started with
 * `ip netns exec NS node --import tsx bench/kernel-child.ts --routes N --device DEV`), installs the
 * route mix with KernelRouteInstaller and prints one JSON line: time until the kernel acknowledged
 * every route, event-loop lag meanwhile, the installer's counters.
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { mixTables, routeMix } from './lib/kernel-mix.js';
import { KernelRouteInstaller } from '../src/kernel/installer.js';
import { nextHop, parseDestination, type Route } from '../src/model/route.js';

const { values } = parseArgs({
  options: {
    routes: { type: 'string', default: '100000' },
    'next-hops': { type: 'string', default: '1000' },
    device: { type: 'string', default: 't0' },
    chunk: { type: 'string', default: '1000' },
    // Development aids: the installer's batch (requests per datagram) and window.
    batch: { type: 'string' },
    window: { type: 'string' },
    // Development aid: a V8 CPU profile of the measured window only (open it in Chrome DevTools).
    profile: { type: 'string' },
  },
});
const routes = Number(values.routes);
const chunk = Number(values.chunk);
const tables = mixTables();

// Built before the clock starts: the client would hand over decoded routes.
const calls: { vni: number; route: Route }[] = [];
for (const r of routeMix({ routes, nextHops: Number(values['next-hops']) })) {
  const destination = parseDestination(r.prefix);
  for (const h of r.hops) calls.push({ vni: r.vni, route: { destination, nextHop: nextHop(h) } });
}

const installer = await KernelRouteInstaller.open({
  tables,
  device: values.device,
  reconcileIntervalMs: 0,
  ...(values.batch === undefined ? {} : { batch: Number(values.batch) }),
  ...(values.window === undefined ? {} : { window: Number(values.window) }),
});

const profiler = values.profile === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
  await profiler.post('Profiler.start');
}

// The garbage of building the mix is collected before the clock starts (the parent passes
// --expose-gc): otherwise a full collection of it lands in the measured window and counts as the
// installer's event-loop lag (hundreds of milliseconds at a million routes).
(globalThis as { gc?: () => void }).gc?.();

const lag = monitorEventLoopDelay({ resolution: 1 });
lag.enable();
const start = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
// Handler calls arrive in bursts, as a client delivers what one socket read decoded.
await new Promise<void>((resolve) => {
  let i = 0;
  const feed = (): void => {
    const end = Math.min(calls.length, i + chunk);
    for (; i < end; i++) {
      const c = calls[i];
      if (c !== undefined) installer.addRoute(c.vni, c.route);
    }
    if (i < calls.length) setImmediate(feed);
    else resolve();
  };
  feed();
});
const settled = await installer.settled(30 * 60_000);
const ms = Number(process.hrtime.bigint() - start) / 1e6;
const cpu = process.cpuUsage(cpu0);
lag.disable();
if (profiler !== undefined && values.profile !== undefined) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(values.profile, JSON.stringify(profile));
  profiler.disconnect();
}
const counters = installer.counters;
await installer.close();
process.stdout.write(
  `${JSON.stringify({
    settled,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    handlerCalls: calls.length,
    lagMaxMs: lag.max / 1e6,
    lagP99Ms: lag.percentile(99) / 1e6,
    lagMeanMs: lag.mean / 1e6,
    counters,
  })}\n`,
);
