import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError } from '../errors.ts';
import { buildEnvoyInput } from './input.ts';

test('the document has OPA-Envoy shape', () => {
  const input = buildEnvoyInput({
    destination: { namespace: 'default', ip: '10.0.0.9', port: 8080 },
    source: { principal: 'cluster.local/ns/default/sa/web', ip: '10.0.0.7', port: 5000 },
    http: {
      method: 'POST',
      path: '/api/v1/users%20x?limit=10&tag=a&tag=b',
      host: 'api.local',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t' },
      body: '{"a":[1,2]}',
    },
  });
  assert.deepEqual(input.attributes.source, {
    address: { socketAddress: { address: '10.0.0.7', portValue: 5000 } },
    principal: 'spiffe://cluster.local/ns/default/sa/web',
  });
  assert.deepEqual(input.attributes.destination, {
    address: { socketAddress: { address: '10.0.0.9', portValue: 8080 } },
  });
  assert.equal(input.attributes.request.http?.headers.authorization, 'Bearer t');
  assert.equal(input.attributes.request.http?.headers[':method'], 'POST');
  assert.deepEqual(input.parsed_path, ['api', 'v1', 'users x']);
  assert.deepEqual(input.parsed_query, { limit: ['10'], tag: ['a', 'b'] });
  assert.deepEqual(input.parsed_body, { a: [1, 2] });
  assert.equal(input.truncated_body, false);
  assert.deepEqual(input.version, { encoding: 'protojson', ext_authz: 'v3' });
});

test('bodies over the limit or cut by Envoy are not parsed', () => {
  const base = { destination: { namespace: 'd' } };
  const big = buildEnvoyInput(
    {
      ...base,
      http: {
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/json' },
        body: '{"a":"xxxxxxxx"}',
      },
    },
    { maxBodyBytes: 8 },
  );
  assert.deepEqual([big.truncated_body, big.parsed_body], [true, null]);
  const partial = buildEnvoyInput({
    ...base,
    http: {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' },
      body: '{',
    },
  });
  assert.deepEqual([partial.truncated_body, partial.parsed_body], [true, null]);
  const form = buildEnvoyInput({
    ...base,
    http: {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: 'a=1&a=2&b=x+y',
    },
  });
  assert.deepEqual(form.parsed_body, { a: ['1', '2'], b: ['x y'] });
});

test('a path with a broken escape is an invalid request', () => {
  assert.throws(
    () => buildEnvoyInput({ destination: { namespace: 'd' }, http: { method: 'GET', path: '/%zz' } }),
    InvalidRequestError,
  );
});
