/**
 * Typed errors. Every error tsbond raises is a MetalBondError with a stable `code`; match on
 * `code` (or `instanceof`), never on the message text.
 */

export type ErrorCode =
  | 'NOT_ESTABLISHED'
  | 'ALREADY_SUBSCRIBED'
  | 'NOT_SUBSCRIBED'
  | 'ROUTE_ALREADY_ANNOUNCED'
  | 'ROUTE_NOT_FOUND'
  | 'TIMEOUT'
  | 'CONNECTION_TIMEOUT'
  | 'CLOSED'
  | 'PROTOCOL'
  | 'IO'
  | 'INVALID_UPDATE'
  | 'ENCODING'
  | 'INVALID_ARGUMENT'
  | 'PARSE'
  | 'INTERNAL'
  | 'REFUSED'
  // Kernel routes (src/kernel/errors.ts)
  | 'KERNEL_DEVICE'
  | 'KERNEL_PERMISSION'
  | 'KERNEL_UNSUPPORTED'
  | 'KERNEL_NETLINK';

export class MetalBondError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** subscribe/announce while no server session is established. */
export class NotEstablishedError extends MetalBondError {
  constructor() {
    super('NOT_ESTABLISHED', 'connection not established');
  }
}

export class AlreadySubscribedError extends MetalBondError {
  constructor(readonly vni: number) {
    super('ALREADY_SUBSCRIBED', `already subscribed to VNI ${String(vni)}`);
  }
}

export class NotSubscribedError extends MetalBondError {
  constructor(readonly vni: number) {
    super('NOT_SUBSCRIBED', `not subscribed to VNI ${String(vni)}`);
  }
}

export class RouteAlreadyAnnouncedError extends MetalBondError {
  constructor(detail: string) {
    super('ROUTE_ALREADY_ANNOUNCED', `route already announced: ${detail}`);
  }
}

export class RouteNotFoundError extends MetalBondError {
  constructor(detail: string) {
    super('ROUTE_NOT_FOUND', `route not found: ${detail}`);
  }
}

/** A wait (e.g. waitEstablished) ran out of time. */
export class TimeoutError extends MetalBondError {
  constructor(message = 'timeout') {
    super('TIMEOUT', message);
  }
}

/** waitAnyEstablished / waitAllEstablished ran out of time. */
export class ConnectionTimeoutError extends MetalBondError {
  constructor(message = 'connection timeout') {
    super('CONNECTION_TIMEOUT', message);
  }
}

export class ClosedError extends MetalBondError {
  constructor(message = 'connection closed') {
    super('CLOSED', message);
  }
}

/** The peer broke the protocol (framing, version, type, handshake order, undecodable payload). */
export class ProtocolError extends MetalBondError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROTOCOL', `protocol error: ${message}`, options);
  }
}

export class IoError extends MetalBondError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IO', message, options);
  }
}

/**
 * A decodable UPDATE that is semantically invalid. `reason` names the invalid part; the UPDATE is
 * dropped alone and the session lives.
 */
export class InvalidUpdateError extends MetalBondError {
  constructor(readonly reason: string) {
    super('INVALID_UPDATE', `invalid update: ${reason}`);
  }
}

/** A message that cannot be put on the wire (payload above 1188 bytes, invalid field). */
export class EncodingError extends MetalBondError {
  constructor(message: string) {
    super('ENCODING', `encoding error: ${message}`);
  }
}

/** A value passed by the caller is out of range or malformed. */
export class InvalidArgumentError extends MetalBondError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A text form (prefix, address, announcement string, VNI) could not be parsed. */
export class ParseError extends MetalBondError {
  constructor(message: string) {
    super('PARSE', message);
  }
}

/**
 * A failure of tsbond itself (or of code it called, such as an event listener) while handling a
 * peer's message; counted apart from the peer's protocol errors.
 */
export class InternalError extends MetalBondError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', `internal error: ${message}`, options);
  }
}
