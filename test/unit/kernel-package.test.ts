/** The kernel route installer is public, and importing the library loads no native code. */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as api from '../../src/index.js';

describe('kernel routes in the public API', () => {
  it('exports the installer, its errors and constants', () => {
    assert.equal(typeof api.KernelRouteInstaller.open, 'function');
    assert.equal(api.DEFAULT_TUNNEL_DEVICE, 'ip6tnl0');
    assert.equal(api.METALBOND_RT_PROTO, 254);
    const errors = [
      new api.TunnelDeviceMissingError('tun0'),
      new api.KernelPermissionError(),
      new api.KernelUnsupportedError('x'),
      new api.NetlinkError('x', 'EIO'),
    ];
    assert.deepEqual(
      errors.map((e) => e.code),
      ['KERNEL_DEVICE', 'KERNEL_PERMISSION', 'KERNEL_UNSUPPORTED', 'KERNEL_NETLINK'],
    );
    assert.match(errors[0]?.message ?? '', /tunnel device 'tun0' not found/);
  });

  it('does not load the netlink package when the library is imported', () => {
    const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(index)});
         const { createRequire } = await import('node:module');
         const cache = Object.keys(createRequire(import.meta.url).cache);
         process.stdout.write(String(cache.some((k) => k.includes('/node_modules/netlink/'))));`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(out, 'false');
  });
});
