/** tsbond: the MetalBond route distribution protocol. The whole public API is exported here. */

export * from './errors.js';
export {
  createLogger,
  defaultLogFormat,
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
  canonicalRoute,
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
  encodeRefused,
  encodeSubscribe,
  encodeSynced,
  encodeUnsubscribe,
  encodeUpdate,
} from './wire/encode.js';
export { decodePayload, decodeRefused, decodeUpdate } from './wire/decode.js';
export { FrameDecoder, type FrameHandler } from './wire/frame-decoder.js';

// Sessions
export { SessionState, type SessionRole } from './session/state.js';
export { DEFAULT_KEEPALIVE_SECONDS, KEEPALIVE_TIMEOUT_FACTOR } from './session/handshake.js';
export { DEFAULT_PACING, checkPacing, type PacingOptions } from './session/pacing.js';
export { SOCKET_BUDGET, type NegotiatedFeatures, type SessionStats } from './session/session.js';
export type { Traffic } from './session/traffic.js';

// Server
export { MetalBondServer } from './server/server.js';
export {
  DEFAULT_LISTEN,
  DEFAULT_SYNC_DELAY_MS,
  type ServerConfig,
  type ResolvedServerConfig,
} from './server/config.js';
export type {
  PeerEvent,
  PeerImplementation,
  PeerInfo,
  RouteEvent,
  RouteInfo,
  RouteKindCount,
  ServerCounters,
  ServerEvents,
  SnapshotEvent,
  SubscriptionEvent,
} from './server/info.js';
export { DEFAULT_PORT, formatHostPort, parseHostPort, type HostPort } from './net-address.js';

// Client
export {
  DEFAULT_HOLD_TIME_SECONDS,
  DEFAULT_MAX_HANDLER_CALLS,
  DEFAULT_WINDOW_BYTES,
  MetalBondClient,
  type WaitSyncedOptions,
} from './client/client.js';
export { SETTLE_AFTER_MS, SETTLE_QUIET_MS } from './client/sync-tracker.js';
export { MAX_SERVERS } from './routing/client-routes.js';
export type {
  ClientCounters,
  ClientEvents,
  ClientOptions,
  ClientState,
  ClientStateKind,
  ReceivedRoute,
  RefusedEvent,
  RouteChangeEvent,
  RouteHandler,
  ServerStateEvent,
  ServerStatus,
  StaleRoutesEvent,
  SyncedEvent,
} from './client/types.js';

// HTTP: status page, Go-shaped route exports, metrics, health (src/http)
export {
  StatusServer,
  parseListen,
  startStatusServer,
  type HttpMode,
  type StatusServerOptions,
} from './http/status-server.js';
export { featureNames, serverStatusSource, type ServerStatusSource } from './http/server-source.js';
export {
  clientStatusSource,
  type ClientSourceOptions,
  type ClientStatusSource,
  type KernelStatus,
} from './http/client-source.js';
export type {
  ChangeCounters,
  MetricsSource,
  Readiness,
  ReadinessCheck,
  RouteRow,
  SessionStatus,
  Source,
  SourceRole,
  StatusSource,
} from './http/sources.js';

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
