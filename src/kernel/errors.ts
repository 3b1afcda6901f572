/** Errors of the kernel route installer (codes in src/errors.ts). */

import { MetalBondError } from '../errors.js';

/** The tunnel device does not exist. */
export class TunnelDeviceMissingError extends MetalBondError {
  constructor(readonly device: string) {
    super(
      'KERNEL_DEVICE',
      `tunnel device '${device}' not found (create it, e.g. ip link add ${device} type ip6tnl mode any external)`,
    );
  }
}

/** The process may not change routes (no CAP_NET_ADMIN). */
export class KernelPermissionError extends MetalBondError {
  constructor() {
    super(
      'KERNEL_PERMISSION',
      'installing kernel routes needs CAP_NET_ADMIN (netlink answered EPERM): run as root or grant the capability',
    );
  }
}

/** No netlink here (not Linux, or the netlink package cannot be loaded). */
export class KernelUnsupportedError extends MetalBondError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KERNEL_UNSUPPORTED', message, options);
  }
}

/** A netlink request failed in a way the caller must hear about (start-up, cleanup). */
export class NetlinkError extends MetalBondError {
  constructor(
    message: string,
    readonly errno: string,
  ) {
    super('KERNEL_NETLINK', `${message}: ${errno}`);
  }
}
