/**
 * A hypervisor agent connected to two route servers at once (HA). The handler sees each route
 * once, however many servers report it, and keeps it while any server still does.
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

const s1 = await MetalBondServer.start('[::1]:0');
const s2 = await MetalBondServer.start('[::1]:0');
const servers = [s1, s2].map((s) => `[::1]:${String(s.address.port)}`);

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

// Another hypervisor announces the same route through both servers.
const peer = MetalBondClient.connect(
  servers,
  { addRoute: () => undefined, removeRoute: () => undefined },
  {
    announce: [{ vni: 100, route: route('10.0.7.0/24', '2001:db8::7') }],
  },
);
await Promise.all([agent.waitAllEstablished(5000), peer.waitAllEstablished(5000)]);

const r = route(parseDestination('10.0.7.0/24'), nextHop('2001:db8::7'));
const reportedBy = async (n: number): Promise<void> => {
  while (agent.routeServers(100, r).length !== n) await new Promise((res) => setTimeout(res, 10));
};
await reportedBy(2);
console.log('route reported by both servers; stopping server 1');
await s1.shutdown();
await reportedBy(1);
console.log(
  `still held: ${String(agent.receivedRoutes(100).length)} route(s), state ${agent.state.kind}`,
);

await Promise.all([agent.shutdown(), peer.shutdown()]);
await s2.shutdown();
