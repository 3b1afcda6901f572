import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import * as api from '../../src/index.js';

describe('package', () => {
  it('VERSION matches package.json', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    assert.equal(api.VERSION, pkg.version);
  });

  it('exports the public API from one module', () => {
    for (const name of [
      'MetalBondServer',
      'MetalBondClient',
      'FrameDecoder',
      'parseAnnouncement',
      'routeKey',
      'NotEstablishedError',
      'ProtocolError',
    ]) {
      assert.ok(name in api, name);
    }
  });

  it('every error has a stable code', () => {
    const errors = [
      new api.NotEstablishedError(),
      new api.AlreadySubscribedError(1),
      new api.NotSubscribedError(1),
      new api.RouteAlreadyAnnouncedError('x'),
      new api.RouteNotFoundError('x'),
      new api.TimeoutError(),
      new api.ConnectionTimeoutError(),
      new api.ClosedError(),
      new api.ProtocolError('x'),
      new api.IoError('x'),
      new api.InvalidUpdateError('x'),
      new api.EncodingError('x'),
      new api.InvalidArgumentError('x'),
      new api.ParseError('x'),
    ];
    const codes = errors.map((e) => e.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const e of errors) {
      assert.ok(e instanceof api.MetalBondError && e instanceof Error);
      assert.equal(e.name, e.constructor.name);
    }
    assert.equal(new api.NotEstablishedError().message, 'connection not established');
    assert.equal(new api.AlreadySubscribedError(7).message, 'already subscribed to VNI 7');
  });
});
