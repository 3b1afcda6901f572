/**
 * A route server and two hypervisor clients in one process, on loopback.
 * Run: node --import tsx examples/basic.ts   (in your project: import from 'tsbond')
 */

import {
  MetalBondClient,
  MetalBondServer,
  formatRoute,
  natNextHop,
  nextHop,
  parseDestination,
  type RouteHandler,
} from '../src/index.js';

const server = await MetalBondServer.start('[::1]:0', { keepalive: 5 });
const address = `[::1]:${String(server.address.port)}`;
console.log(`server on ${address}`);

function printer(name: string): RouteHandler {
  return {
    addRoute: (vni, route) => {
      console.log(`${name}: + VNI ${String(vni)} ${formatRoute(route)}`);
    },
    removeRoute: (vni, route) => {
      console.log(`${name}: - VNI ${String(vni)} ${formatRoute(route)}`);
    },
  };
}

const a = MetalBondClient.connect([address], printer('hv-a'));
const b = MetalBondClient.connect([address], printer('hv-b'));
await Promise.all([a.waitEstablished(5000), b.waitEstablished(5000)]);

await b.subscribe(100);
await a.announce(100, parseDestination('10.0.1.0/24'), nextHop('2001:db8::1'));
await a.announce(100, parseDestination('10.0.2.0/24'), natNextHop('2001:db8::1', 1024, 2048));

// Wait until b holds both routes (the 'route' event fires on every handler call).
await new Promise<void>((resolve) => {
  const check = (): void => {
    if (b.receivedRoutes(100).length === 2) resolve();
  };
  b.on('route', check);
  check();
});
await a.withdraw(100, parseDestination('10.0.1.0/24'), nextHop('2001:db8::1'));
await new Promise<void>((resolve) => {
  b.on('route', () => {
    if (b.receivedRoutes(100).length === 1) resolve();
  });
});

console.log(`server holds ${String(server.routeCount)} route(s); b holds:`);
for (const r of b.receivedRoutes()) console.log(`  VNI ${String(r.vni)} ${formatRoute(r.route)}`);

await b.shutdown();
await a.shutdown();
await server.shutdown();
