/**
 * `tsbond demo` (what `npm start` runs): a server plus three simulated hypervisors on loopback.
 * Routes are announced, withdrawn and a hypervisor restarts, and every route change each one
 * receives is printed as it flows.
 */

import { Command, Option } from 'commander';

import { MetalBondClient } from '../client/client.js';
import { IoError } from '../errors.js';
import { serverStatusSource } from '../http/server-source.js';
import { StatusServer } from '../http/status-server.js';
import { createLogger } from '../log.js';
import { natNextHop, nextHop, parseDestination, type NextHop } from '../model/route.js';
import { formatHostPort } from '../net-address.js';
import { MetalBondServer } from '../server/server.js';
import { fail, onSignals } from './common.js';
import { formatRouteChange } from './format.js';

interface DemoFlags {
  listen: string;
  http: string;
  duration?: number;
  step: number;
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function hypervisor(name: string, server: string, vnis: number[]): MetalBondClient {
  const c = MetalBondClient.connect(
    [server],
    {
      addRoute: (vni, r) => {
        say(`  ${name.padEnd(6)} ${formatRouteChange('add', vni, r)}`);
      },
      removeRoute: (vni, r) => {
        say(`  ${name.padEnd(6)} ${formatRouteChange('remove', vni, r)}`);
      },
    },
    { subscribe: vnis, backoffMinMs: 200, backoffMaxMs: 1000 },
  );
  return c;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run a server with simulated hypervisors and print the routes as they flow')
    .option('-l, --listen <addr>', 'server listen address (port 0: any free port)', '[::1]:0')
    .option(
      '--http <addr>',
      'status page address (a free port is taken when this one is in use)',
      '[::1]:4712',
    )
    .addOption(new Option('--duration <seconds>', 'stop after this many seconds').argParser(Number))
    .addOption(
      new Option('--step <ms>', 'pause between demo steps').argParser(Number).default(1500),
    )
    .action(async (flags: DemoFlags) => {
      const log = createLogger({ level: 'warn', format: 'pretty' });
      const server = await MetalBondServer.start(flags.listen, { logger: log }).catch(fail);
      const addr = formatHostPort(server.address);
      const source = serverStatusSource(server);
      const http = await StatusServer.start(source, { listen: flags.http, logger: log })
        .catch((e: unknown) => {
          if (!(e instanceof IoError && e.message.includes('in use'))) throw e;
          say(`tsbond demo: ${flags.http} is in use, taking a free port for the status page`);
          return StatusServer.start(source, { listen: '[::1]:0', logger: log });
        })
        .catch(fail);
      say(`tsbond demo: status page on ${http.url}`);
      say(`tsbond demo: server listening on ${addr} (Ctrl-C to stop)`);
      server.on('peer', (e) => {
        if (e.type !== 'connected')
          say(
            `server  peer ${e.peer.address} ${e.type}${e.type === 'closed' ? ` (${String(e.routesWithdrawn)} routes withdrawn)` : ''}`,
          );
      });
      const a = hypervisor('hv-a', addr, [100]);
      let b = hypervisor('hv-b', addr, [100, 200]);
      const watcher = hypervisor('watch', addr, [100, 200]);
      const clients = (): MetalBondClient[] => [a, b, watcher];
      await Promise.all(clients().map((c) => c.waitEstablished(10_000)));
      const hop = (n: number): NextHop => nextHop(`2001:db8::${n.toString(16)}`);
      const steps: [string, () => Promise<void>][] = [
        [
          'hv-a announces 10.0.1.0/24 in VNI 100',
          () => a.announce(100, parseDestination('10.0.1.0/24'), hop(0xa)),
        ],
        [
          'hv-b announces 10.0.2.0/24 (NAT 1024-2048) in VNI 200',
          () =>
            b.announce(200, parseDestination('10.0.2.0/24'), natNextHop('2001:db8::b', 1024, 2048)),
        ],
        [
          "hv-b announces 10.0.1.0/24 too: watch gets a second ECMP hop; hv-b, now announcing it itself, hands hv-a's back (loop prevention)",
          () => b.announce(100, parseDestination('10.0.1.0/24'), hop(0xb)),
        ],
        [
          'hv-a announces an IPv6 prefix',
          () => a.announce(100, parseDestination('2001:db8:100::/48'), hop(0xa)),
        ],
        [
          'hv-a withdraws 10.0.1.0/24',
          () => a.withdraw(100, parseDestination('10.0.1.0/24'), hop(0xa)),
        ],
        [
          'hv-b restarts: the server withdraws its routes, then it comes back',
          async () => {
            await b.shutdown();
            b = hypervisor('hv-b', addr, [100, 200]);
            await b.waitEstablished(10_000);
            await b.announce(
              200,
              parseDestination('10.0.2.0/24'),
              natNextHop('2001:db8::b', 1024, 2048),
            );
          },
        ],
      ];
      const run = { stopped: false };
      const isStopped = (): boolean => run.stopped;
      const stop = async (): Promise<void> => {
        run.stopped = true;
        await http.close();
        source.close();
        await Promise.all(clients().map((c) => c.shutdown()));
        await server.shutdown();
      };
      onSignals(stop, log);
      if (flags.duration !== undefined) {
        setTimeout(() => {
          void stop().then(() => process.exit(0));
        }, flags.duration * 1000).unref();
      }
      const pause = (): Promise<void> => new Promise((r) => setTimeout(r, flags.step));
      for (let round = 0; !isStopped(); round++) {
        for (const [what, step] of steps) {
          await pause();
          if (isStopped()) return;
          say(`\n# ${what}`);
          await step();
        }
        // Reset for the next round: withdraw everything announced.
        await pause();
        if (isStopped()) return;
        say('\n# withdrawing everything, starting over');
        for (const c of clients())
          for (const r of c.announcedRoutes())
            await c.withdraw(r.vni, r.route.destination, r.route.nextHop);
        say(
          `  (server: ${String(server.routeCount)} routes, ${String(server.peerCount)} peers, round ${String(round + 1)} done)`,
        );
      }
    });
}
