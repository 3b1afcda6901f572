/**
 * Extra modules' command line (options of their own, help) and the metric readers of the HTTP
 * cost benchmark. Pure: no process started.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ExtraModule } from '../lib/extra.js';
import { httpCostModule } from '../lib/http-cost.js';
import { UsageError, helpText, parseOptions } from '../lib/options.js';
import { metricSum, metricWith } from '../lib/page-observer.js';
import { medianOf } from '../lib/results.js';
import { tlsFanoutModule } from '../lib/tls-fanout.js';

const MODULES: readonly ExtraModule[] = [httpCostModule, tlsFanoutModule];

describe('extra module options', () => {
  it('are parsed with the built-in ones and handed over by name', () => {
    const o = parseOptions(
      ['http-cost', '--clients', '20', '--http-rate', '30000', '--http-rounds', '3'],
      MODULES,
    );
    assert.deepEqual([...o.asked], ['http-cost']);
    assert.equal(o.all, false);
    assert.equal(o.fanout.clients, 20);
    assert.equal(o.extraArgs['http-rate'], '30000');
    assert.equal(o.extraArgs['http-rounds'], '3');
    assert.equal(o.extraArgs['scrape-ms'], undefined);
  });

  it('are checked when parsed (an integer >= min)', () => {
    assert.throws(() => parseOptions(['http-cost', '--http-rate', 'fast'], MODULES), /--http-rate/);
    assert.throws(() => parseOptions(['http-cost', '--scrape-ms', '10'], MODULES), /--scrape-ms/);
  });

  it('are unknown without the module, and module names are benchmarks', () => {
    assert.throws(() => parseOptions(['--http-rate', '1'], []));
    assert.throws(() => parseOptions(['http-cost'], []), UsageError);
    assert.doesNotThrow(() => parseOptions(['fanout-tls'], MODULES));
  });

  it('may not be defined twice', () => {
    const twice: ExtraModule = { ...httpCostModule, name: 'again' };
    assert.throws(() => parseOptions([], [httpCostModule, twice]), /defined twice/);
    const clash: ExtraModule = { ...httpCostModule, options: { clients: { type: 'string' } } };
    assert.throws(() => parseOptions([], [clash]), /defined twice/);
  });

  it('are listed in --help with the module names', () => {
    const h = helpText(MODULES);
    for (const s of ['http-cost', 'fanout-tls', '--http-rate', '--tls-rounds']) {
      assert.ok(h.includes(s), s);
    }
  });
});

describe('metric readers', () => {
  const text = [
    '# HELP tsbond_routes Distinct routes',
    '# TYPE tsbond_routes gauge',
    'tsbond_routes{family="ipv4",type="STANDARD"} 3',
    'tsbond_routes{family="ipv6",type="STANDARD"} 4',
    'tsbond_routes_other 100',
    'tsbond_sessions{role="server",state="ESTABLISHED"} 50',
    'tsbond_sessions{role="server",state="CLOSED"} 0',
    'tsbond_vnis 1',
    '',
  ].join('\n');

  it('sum the samples of one family only', () => {
    assert.equal(metricSum(text, 'tsbond_routes'), 7);
    assert.equal(metricSum(text, 'tsbond_vnis'), 1);
    assert.equal(metricSum(text, 'tsbond_missing'), undefined);
  });

  it('select by label', () => {
    assert.equal(metricWith(text, 'tsbond_sessions', 'state="ESTABLISHED"'), 50);
  });

  it('median of numbers', () => {
    assert.equal(medianOf([3, 1, 2]), 2);
    assert.equal(medianOf([4, 1, 2, 3]), 2.5);
    assert.ok(Number.isNaN(medianOf([])));
  });
});
