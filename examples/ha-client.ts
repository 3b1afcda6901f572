/**
 * A hypervisor agent connected to two route servers at once (HA). The handler sees each route
 * once, however many servers report it, and keeps it while any server still does; a server that
 * goes away leaves its routes stale for the hold time instead of removing them at once.
 * Run: node --import tsx examples/ha-client.ts   (in your project: import from 'tsbond')
 */

import {
  MetalBondClient,
  MetalBondServer,
  formatRoute,
  nextHop,
  parseDestination,
  route,
} from '../src/index.js';

// syncDelayMs 0: a freshly started server normally waits 15 s (its sync delay) before it tells
// clients a subscription is complete, so that reconnecting announcers are in first.
const s1 = await MetalBondServer.start('[::1]:0', { syncDelayMs: 0 });
const s2 = await MetalBondServer.start('[::1]:0', { syncDelayMs: 0 });
const servers = [s1, s2].map((s) => `[::1]:${String(s.address.port)}`);

// Another hypervisor announces a route through both servers.
const peer = MetalBondClient.connect(
  servers,
  { addRoute: () => undefined, removeRoute: () => undefined },
  {
    announce: [{ vni: 100, route: route('10.0.7.0/24', '2001:db8::7') }],
  },
);
await peer.waitAllEstablished(5000);
while (s1.routeCount + s2.routeCount < 2) await new Promise((res) => setTimeout(res, 10));

const agent = MetalBondClient.connect(
  servers,
  {
    addRoute: (vni, r) => {
      console.log(`agent: + VNI ${String(vni)} ${formatRoute(r)}`);
    },
    removeRoute: (vni, r) => {
      console.log(`agent: - VNI ${String(vni)} ${formatRoute(r)}`);
    },
  },
  { subscribe: [100] },
);
agent.on('state', (s) => {
  console.log(`agent: ${s.kind} (${String(s.connected)}/${String(s.total)})`);
});
agent.on('staleRoutes', (e) => {
  console.log(`agent: ${String(e.routes)} route(s) ${e.kind} for server ${e.server}`);
});
await agent.waitAllEstablished(5000);

// Both servers have sent VNI 100 completely (SYNCED) and the handler has seen it.
await agent.waitSynced(100, { all: true, timeoutMs: 5000 });
const r = route(parseDestination('10.0.7.0/24'), nextHop('2001:db8::7'));
console.log(
  `route reported by ${String(agent.routeServers(100, r).length)} servers; stopping server 1`,
);
await s1.shutdown();
while (agent.state.kind !== 'PartiallyConnected') await new Promise((res) => setTimeout(res, 10));
for (const h of agent.receivedRoutes(100)) {
  console.log(
    `still held: VNI 100 ${formatRoute(h.route)}, carried by ${String(h.servers.length)} servers${h.stale ? ' (stale only)' : ''}`,
  );
}

await Promise.all([agent.shutdown(), peer.shutdown()]);
await s2.shutdown();
