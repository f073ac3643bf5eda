import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidDecisionError } from '../errors.ts';
import { validateDecision } from './decision.ts';

test('a boolean decision', () => {
  assert.deepEqual([validateDecision(true).allowed, validateDecision(false).httpStatus], [true, 403]);
});

test('an object decision with every field', () => {
  const d = validateDecision({
    allowed: false,
    headers: { 'x-reason': 'quota', 'x-multi': ['a', 'b'] },
    response_headers_to_add: [{ 'set-cookie': 'a=1' }, { 'set-cookie': 'b=2' }],
    request_headers_to_remove: ['authorization'],
    body: 'nope',
    http_status: 429,
    dynamic_metadata: { tier: 'free' },
  });
  assert.deepEqual(d, {
    allowed: false,
    httpStatus: 429,
    headers: [
      ['x-reason', 'quota'],
      ['x-multi', 'a'],
      ['x-multi', 'b'],
    ],
    responseHeadersToAdd: [
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ],
    requestHeadersToRemove: ['authorization'],
    body: 'nope',
    dynamicMetadata: { tier: 'free' },
  });
});

test('each bad field is named precisely', () => {
  const cases: [unknown, string][] = [
    [undefined, 'allow'],
    ['yes', 'allow'],
    [{}, 'allowed'],
    [{ allowed: 'true' }, 'allowed'],
    [{ allowed: true, headers: { a: 1 } }, 'headers'],
    [{ allowed: true, response_headers_to_add: 'x' }, 'response_headers_to_add'],
    [{ allowed: true, request_headers_to_remove: [1] }, 'request_headers_to_remove'],
    [{ allowed: false, body: {} }, 'body'],
    [{ allowed: false, http_status: 99 }, 'http_status'],
    [{ allowed: false, http_status: '403' }, 'http_status'],
    [{ allowed: false, dynamic_metadata: [] }, 'dynamic_metadata'],
    [{ allowed: false, status: 403 }, 'status'],
  ];
  for (const [value, field] of cases) {
    assert.throws(
      () => validateDecision(value),
      (err: unknown) => err instanceof InvalidDecisionError && err.field === field,
      JSON.stringify(value),
    );
  }
});
