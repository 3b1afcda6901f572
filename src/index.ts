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

// Access control: --allow prefixes, authorisation file, mutual TLS, limits (docs/security.md)
export { CidrList, cidrContains, isAllowed, parseCidr, type Cidr } from './access/cidr.js';
export { VniSet } from './access/vni-set.js';
export {
  ALL_RIGHTS,
  NO_RIGHTS,
  AuthorizationPolicy,
  parseAuthorization,
  revoked,
  rightsFor,
  type AuthorizationRule,
  type Rights,
} from './access/authorization.js';
export { AuthorizationLoader, type ReloadResult } from './access/authorization-loader.js';
export {
  certificateIdentity,
  describeIdentity,
  type CertificateIdentity,
  type Identity,
  type SanEntry,
} from './access/identity.js';
export {
  TlsCredentials,
  clientTlsOptions,
  peerIdentity,
  serverTlsOptions,
  type TlsFiles,
  type TlsMaterial,
} from './access/tls.js';
export {
  DEFAULT_LIMITS,
  LogRateLimiter,
  refuseAdd,
  refuseConnection,
  refuseSubscribe,
  resolveLimits,
  type Limits,
  type Refusal,
  type RefusalCause,
} from './access/limits.js';
