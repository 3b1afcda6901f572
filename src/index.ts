/** tsbond: the MetalBond route distribution protocol. The whole public API is exported here. */

export * from './errors.js';
export {
  createLogger,
  silentLogger,
  type Logger,
  type LogFormat,
  type LoggerOptions,
} from './log.js';
export { VERSION } from './version.js';

// Route model
export {
  NEXT_HOP_TYPES,
  checkVni,
  destinationFromBytes,
  formatDestination,
  formatNextHop,
  formatRoute,
  isVni,
  loadBalancerNextHop,
  natNextHop,
  nextHop,
  parseDestination,
  parseVni,
  route,
  routesEqual,
  type Destination,
  type IpFamily,
  type NextHop,
  type NextHopOptions,
  type NextHopType,
  type Route,
  type Vni,
} from './model/route.js';
export { formatAnnouncement, parseAnnouncement, type Announcement } from './model/announcement.js';
export { validateUpdate, type RouteAction, type RouteUpdate } from './model/validate.js';
export {
  destinationKey,
  encodeRouteUpdate,
  routeFromKey,
  routeKey,
  routeToUpdate,
} from './model/wire-route.js';
export { formatIP, parseIP } from './model/ip.js';

// Wire codec
export * from './wire/messages.js';
export {
  encodeHello,
  encodeKeepalive,
  encodeMessage,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeUpdate,
} from './wire/encode.js';
export { decodePayload, decodeUpdate } from './wire/decode.js';
export { FrameDecoder, type FrameHandler } from './wire/frame-decoder.js';

// Sessions
export { SessionState, type SessionRole } from './session/state.js';
export { DEFAULT_KEEPALIVE_SECONDS, KEEPALIVE_TIMEOUT_FACTOR } from './session/handshake.js';

// Server
export { MetalBondServer } from './server/server.js';
export { DEFAULT_LISTEN, type ServerConfig, type ResolvedServerConfig } from './server/config.js';
export type {
  PeerEvent,
  PeerInfo,
  RouteEvent,
  RouteInfo,
  ServerCounters,
  ServerEvents,
  SubscriptionEvent,
} from './server/info.js';
export { formatHostPort, parseHostPort, type HostPort } from './net-address.js';

// Client
export { MetalBondClient } from './client/client.js';
export type {
  ClientEvents,
  ClientOptions,
  ClientState,
  ClientStateKind,
  RouteChangeEvent,
  RouteHandler,
  ServerStateEvent,
  ServerStatus,
} from './client/types.js';

// Kernel routes (Linux). Importing these loads no native code: the netlink package is loaded by
// KernelRouteInstaller.open().
export { KernelRouteInstaller, DEFAULT_TUNNEL_DEVICE } from './kernel/installer.js';
export {
  KernelPermissionError,
  KernelUnsupportedError,
  NetlinkError,
  TunnelDeviceMissingError,
} from './kernel/errors.js';
export { METALBOND_RT_PROTO } from './kernel/constants.js';
export type {
  KernelCounters,
  KernelRouteInfo,
  KernelRouteInstallerOptions,
  OpCounters,
  ResyncSignals,
} from './kernel/types.js';
