import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  anyOf,
  inWindow,
  ipMatcher,
  parseTimeWindow,
  pathMatcher,
  pathTemplateError,
  stringMatcher,
} from './match.ts';

test('Istio string forms: exact, prefix, suffix, presence; * elsewhere is literal', () => {
  assert.ok(stringMatcher('abc')('abc'));
  assert.ok(!stringMatcher('abc')('abcd'));
  assert.ok(stringMatcher('abc*')('abc') && stringMatcher('abc*')('abcd'));
  assert.ok(stringMatcher('*abc')('abc') && stringMatcher('*abc')('xabc'));
  assert.ok(stringMatcher('*')('x') && !stringMatcher('*')(''));
  assert.ok(stringMatcher('a*c')('a*c') && !stringMatcher('a*c')('abc'));
  assert.ok(anyOf(['A.example'], true)('a.example'));
});

test('path templates', () => {
  const m = pathMatcher(['/foo/{*}', '/buzz/{*}/bar/{**}']);
  assert.ok(m('/foo/bar'));
  assert.ok(!m('/foo/bar/baz'));
  assert.ok(!m('/foo/'));
  assert.ok(m('/buzz/x/bar/a/b/c'));
  assert.ok(m('/buzz/x/bar/'));
  assert.equal(pathTemplateError('/*/baz/{*}') !== null, true);
  assert.equal(pathTemplateError('/{**}/foo/{*}') !== null, true);
  assert.equal(pathTemplateError('/foo/{*}.txt') !== null, true);
  assert.equal(pathTemplateError('/foo/{*}/bar/{**}'), null);
});

test('IP blocks, v4 and v6', () => {
  const m = ipMatcher(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '0.0.0.0/0']);
  assert.ok(m('10.9.9.9') && m('192.168.1.1') && m('2001:db8::1') && m('8.8.8.8'));
  const n = ipMatcher(['10.0.0.0/8']);
  assert.ok(!n('11.0.0.1') && !n('::1'));
});

test('time windows with zones and wrap-around', () => {
  const w = parseTimeWindow('09:00-18:00 Europe/Paris');
  assert.ok(typeof w !== 'string');
  // 2026-07-01 07:30 UTC is 09:30 in Paris (CEST, UTC+2).
  assert.ok(inWindow(Date.parse('2026-07-01T07:30:00Z'), w));
  assert.ok(!inWindow(Date.parse('2026-07-01T06:30:00Z'), w));
  const night = parseTimeWindow('22:00-06:00');
  assert.ok(typeof night !== 'string');
  assert.ok(
    inWindow(Date.parse('2026-07-01T23:00:00Z'), night) &&
      inWindow(Date.parse('2026-07-01T05:59:00Z'), night),
  );
  assert.ok(!inWindow(Date.parse('2026-07-01T06:00:00Z'), night));
  assert.equal(typeof parseTimeWindow('09:00-18:00 Mars/Olympus'), 'string');
  assert.equal(typeof parseTimeWindow('9-5'), 'string');
});
