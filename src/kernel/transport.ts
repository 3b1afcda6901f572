/**
 * The netlink socket, the installer's only I/O. Backed by the `netlink` npm package (a prebuilt
 * N-API addon, loaded with a dynamic import the first time a socket is opened, so programs that
 * never install kernel routes never load it). Only its lowest layer is used (a raw socket polled by
 * libuv: datagrams in, datagrams out); framing, acknowledgements and attributes are tsbond's.
 */

import { constants as osConstants } from 'node:os';

import { KernelUnsupportedError } from './errors.js';

/** A raw NETLINK_ROUTE socket. */
export interface NetlinkTransport {
  /** Sends the buffers as one datagram (the kernel processes its messages in order). */
  send(buffers: readonly Buffer[], done: (errno: string | undefined) => void): void;
  onMessage(listener: (datagram: Buffer) => void): void;
  /** Socket errors (ENOBUFS: the receive buffer overflowed and messages were lost). */
  onError(listener: (errno: string) => void): void;
  addMembership(group: number): void;
  dropMembership(group: number): void;
  /** SO_RCVBUF as the kernel set it (twice the request, capped by net.core.rmem_max). */
  setReceiveBuffer(bytes: number): number;
  unref(): void;
  close(): void;
}

/** What tsbond uses of the `netlink` package's RawNetlinkSocket. */
interface RawSocket {
  send(msg: Buffer[], options: undefined, cb: (e?: { code?: unknown }) => void): void;
  on(event: 'message', fn: (msg: Buffer) => void): unknown;
  on(event: 'error', fn: (e: { code?: unknown }) => void): unknown;
  addMembership(group: number): void;
  dropMembership(group: number): void;
  setRecvBufferSize(n: number): unknown;
  getRecvBufferSize(): number;
  unref(): void;
  close(): void;
}
type RawSocketConstructor = new (protocol: number, options?: object) => RawSocket;

let loaded: Promise<RawSocketConstructor> | undefined;

function isConstructor(v: unknown): v is RawSocketConstructor {
  return typeof v === 'function';
}

/** The package name in a variable: TypeScript then does not load its (Node 12) type declarations. */
const PACKAGE = 'netlink';

async function loadPackage(): Promise<RawSocketConstructor> {
  if (process.platform !== 'linux') {
    throw new KernelUnsupportedError(`kernel routes need Linux (this is ${process.platform})`);
  }
  let mod: unknown;
  try {
    mod = await import(PACKAGE);
  } catch (e) {
    throw new KernelUnsupportedError(
      `cannot load the netlink package: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  const ns = mod as { RawNetlinkSocket?: unknown; default?: { RawNetlinkSocket?: unknown } };
  const ctor = ns.RawNetlinkSocket ?? ns.default?.RawNetlinkSocket;
  if (!isConstructor(ctor))
    throw new KernelUnsupportedError('netlink package without RawNetlinkSocket');
  return ctor;
}

export function errnoName(code: unknown): string {
  return typeof code === 'string' ? code : 'EIO';
}

/** Name of a positive errno number (EPERM, ENOBUFS...), or `E${n}`. */
export function errnoFromNumber(n: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === n) return name;
  return `E${String(n)}`;
}

/** Opens a NETLINK_ROUTE socket (loads the netlink package on first use). */
export async function openNetlinkTransport(): Promise<NetlinkTransport> {
  loaded ??= loadPackage();
  let Ctor: RawSocketConstructor;
  try {
    Ctor = await loaded;
  } catch (e) {
    loaded = undefined;
    throw e;
  }
  const sock = new Ctor(0);
  return {
    send(buffers, done) {
      sock.send([...buffers], undefined, (e) => {
        done(e === undefined ? undefined : errnoName(e.code));
      });
    },
    onMessage(listener) {
      sock.on('message', listener);
    },
    onError(listener) {
      sock.on('error', (e) => {
        listener(errnoName(e.code));
      });
    },
    addMembership(group) {
      sock.addMembership(group);
    },
    dropMembership(group) {
      sock.dropMembership(group);
    },
    setReceiveBuffer(bytes) {
      try {
        sock.setRecvBufferSize(bytes);
      } catch {
        // keep the default
      }
      return sock.getRecvBufferSize();
    },
    unref() {
      sock.unref();
    },
    close() {
      sock.close();
    },
  };
}
