import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { format, resolveConfig } from 'prettier';
import type { AuthzRequest } from '../authz/model.ts';
import { InvalidRequestError } from '../errors.ts';
import { normalizeIp } from './address.ts';
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

/**
 * testdata/envoy-input/<case>-in.json is a request, <case>-out.json the input document Warden
 * builds for it (or `{"error": ...}` where opa-envoy-plugin refuses the check request).
 * UPDATE_GOLDEN=1 rewrites the -out files. reference.json holds what opa-envoy-plugin's own Go
 * code computes for each case (tools/cmd/envoy-input-ref, run by hand: see its comment), and
 * every golden file must agree with it. The files are in Prettier's JSON layout.
 */
const goldenDir = join(import.meta.dirname, '..', '..', 'testdata', 'envoy-input');
const update = process.env['UPDATE_GOLDEN'] === '1';

function inputOrError(request: AuthzRequest): unknown {
  try {
    return JSON.parse(JSON.stringify(buildEnvoyInput(request))) as unknown;
  } catch (e) {
    if (e instanceof InvalidRequestError) return { error: e.message };
    throw e;
  }
}

test('golden OPA-Envoy input documents agree with opa-envoy-plugin', async () => {
  const files = readdirSync(goldenDir);
  const cases = files.filter((f) => f.endsWith('-in.json')).map((f) => f.slice(0, -'-in.json'.length));
  const reference = JSON.parse(readFileSync(join(goldenDir, 'reference.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  assert.ok(cases.length >= 20);
  assert.deepEqual(
    Object.keys(reference).sort(),
    [...cases].sort(),
    'reference.json is stale: re-run envoy-input-ref',
  );
  for (const name of cases) {
    const request = JSON.parse(readFileSync(join(goldenDir, `${name}-in.json`), 'utf8')) as AuthzRequest;
    const out = inputOrError(request) as Record<string, unknown>;
    const path = join(goldenDir, `${name}-out.json`);
    // Written as Prettier writes JSON, so the golden files pass `prettier --check`.
    const text = await format(JSON.stringify(out), { ...(await resolveConfig(path)), filepath: path });
    if (update) writeFileSync(path, text);
    assert.ok(existsSync(path), `${name}-out.json missing; run with UPDATE_GOLDEN=1`);
    assert.equal(readFileSync(path, 'utf8'), text, `${name}-out.json is stale; run with UPDATE_GOLDEN=1`);
    const ref = reference[name] ?? {};
    if ('error' in ref) {
      assert.ok(
        'error' in out,
        `${name}: opa-envoy-plugin refuses it (${String(ref['error'])}), Warden does not`,
      );
      continue;
    }
    assert.ok(
      !('error' in out),
      `${name}: Warden refuses it (${String(out['error'])}), opa-envoy-plugin does not`,
    );
    for (const key of ['parsed_path', 'parsed_query', 'parsed_body', 'truncated_body'])
      assert.deepEqual(out[key], ref[key], `${name}: ${key}`);
  }
  const outs = readdirSync(goldenDir)
    .filter((f) => f.endsWith('-out.json'))
    .map((f) => f.slice(0, -'-out.json'.length));
  assert.deepEqual(outs.sort(), [...cases].sort(), 'an -out.json has no -in.json');
});

test('IPv4-mapped peers are reported as IPv4, as Envoy does', () => {
  assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIp('::FFFF:a00:1'), '10.0.0.1');
  assert.equal(normalizeIp('0:0:0:0:0:ffff:10.0.0.1'), '10.0.0.1');
  for (const other of ['10.0.0.1', '::1', '::10.0.0.1', '::ffff:0:10.0.0.1', '2001:db8::1', 'fe80::1%eth0'])
    assert.equal(normalizeIp(other), other);
  const input = buildEnvoyInput({
    destination: { namespace: 'd', ip: '::ffff:10.0.0.9', port: 80 },
    source: { ip: '::ffff:10.0.0.1', port: 5000 },
  });
  assert.equal(input.attributes.source.address?.socketAddress.address, '10.0.0.1');
  assert.equal(input.attributes.destination.address?.socketAddress.address, '10.0.0.9');
});
