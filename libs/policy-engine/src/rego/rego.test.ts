/**
 * Rego through the real `opa build -t wasm` and `@open-policy-agent/opa-wasm`. The policies are
 * written the way OPA-Envoy's documentation writes them (input.attributes.request.http.*,
 * input.parsed_path, headers, the source principal) and must decide as documented there.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { parseAuthorizationPolicies } from '../authz/parse.ts';
import { PolicyRevision } from '../authz/revision.ts';
import { DEFAULT_ROOT_NAMESPACE } from '../authz/model.ts';
import type { AuthzRequest } from '../authz/model.ts';
import { PolicyRejectedError, RegoToolError } from '../errors.ts';
import { compileRego } from './compile.ts';
import { RegoPolicy } from './policy.ts';

const opa = new URL('../../../../.tools/bin/opa', import.meta.url).pathname;

const v1Module = `package envoy.authz

import rego.v1

default allow := {"allowed": false, "http_status": 403, "body": "denied by policy"}

# Reads of /people/... by the frontend service account.
allow := {"allowed": true, "headers": {"x-validated-by": "opa"}} if {
	input.attributes.request.http.method == "GET"
	input.parsed_path[0] == "people"
	input.attributes.source.principal == "spiffe://cluster.local/ns/default/sa/frontend"
}

# Creating a person needs the API key header and a first name in the JSON body.
allow := {"allowed": true} if {
	input.attributes.request.http.method == "POST"
	input.parsed_path == ["people"]
	input.attributes.request.http.headers["x-api-key"] == "secret"
	input.parsed_body.firstname != ""
}
`;

// OPA-Envoy's classic v0 style: `=` defaults and rule bodies without `if`.
const v0Module = `package envoy.authz

import input.attributes.request.http as http_request

default allow = false

allow {
	http_request.method == "GET"
	input.parsed_query.lang[_] == "en"
}
`;

const request = (
  http: AuthzRequest['http'],
  principal = 'cluster.local/ns/default/sa/frontend',
): AuthzRequest => ({
  destination: { namespace: 'default', ip: '10.0.0.9', port: 8080 },
  source: { principal, ip: '10.0.0.7', port: 51000 },
  ...(http ? { http } : {}),
});

let v1: RegoPolicy;
let v0: RegoPolicy;

before(async () => {
  const [a, b] = await Promise.all([
    compileRego({ module: v1Module, entrypoint: 'envoy/authz/allow' }, { opa }),
    compileRego({ module: v0Module, entrypoint: 'envoy/authz/allow' }, { opa }),
  ]);
  assert.equal(a.regoVersion, 'v1');
  assert.equal(b.regoVersion, 'v0');
  v1 = await RegoPolicy.load(a);
  v0 = await RegoPolicy.load(b);
});

test('GET /people/1 from the frontend principal is allowed, with the decision headers', () => {
  const d = v1.check(request({ method: 'GET', path: '/people/1?verbose=true', host: 'people' }));
  assert.equal(d.allowed, true);
  assert.deepEqual(d.headers, [['x-validated-by', 'opa']]);
});

test('GET /people from another principal is denied with the policy status and body', () => {
  const d = v1.check(request({ method: 'GET', path: '/people' }, 'cluster.local/ns/default/sa/intruder'));
  assert.deepEqual([d.allowed, d.httpStatus, d.body], [false, 403, 'denied by policy']);
});

test('POST /people needs the header and a JSON body field', () => {
  const ok = v1.check(
    request({
      method: 'POST',
      path: '/people',
      headers: { 'X-Api-Key': 'secret', 'content-type': 'application/json' },
      body: '{"firstname":"Ada"}',
    }),
  );
  assert.equal(ok.allowed, true);
  const noKey = v1.check(
    request({
      method: 'POST',
      path: '/people',
      headers: { 'content-type': 'application/json' },
      body: '{"firstname":"Ada"}',
    }),
  );
  assert.equal(noKey.allowed, false);
  const form = v1.check(
    request({
      method: 'POST',
      path: '/people',
      headers: { 'x-api-key': 'secret', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'firstname=Ada',
    }),
  );
  // A form body parses to lists ({"firstname": ["Ada"]}), so `.firstname != ""` holds as well.
  assert.equal(form.allowed, true);
});

test('an unparsable JSON body is denied with a reason (fail closed)', () => {
  const d = v1.check(
    request({
      method: 'POST',
      path: '/people',
      headers: { 'x-api-key': 'secret', 'content-type': 'application/json' },
      body: '{',
    }),
  );
  assert.deepEqual([d.allowed, d.error?.code], [false, 'invalid_request']);
});

test('a v0 module compiles through --v0-compatible and reads parsed_query', () => {
  assert.equal(v0.check(request({ method: 'GET', path: '/x?lang=fr&lang=en' })).allowed, true);
  assert.equal(v0.check(request({ method: 'GET', path: '/x?lang=fr' })).allowed, false);
});

test('Rego as the CUSTOM provider of an AuthorizationPolicy', () => {
  const { policies } = parseAuthorizationPolicies(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: default}
spec:
  action: CUSTOM
  provider: {name: rego}
  rules:
  - {}
`);
  const revision = new PolicyRevision(policies, {
    providers: new Map([['rego', v1.provider()]]),
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  });
  assert.equal(revision.decide(request({ method: 'GET', path: '/people/2' })).allowed, true);
  const denied = revision.decide(request({ method: 'DELETE', path: '/people/2' }));
  assert.deepEqual([denied.allowed, denied.reason], [false, 'custom_denied']);
});

test('a module with an unsafe variable is rejected with file, line, column and reason', async () => {
  const module =
    'package envoy.authz\n\nimport rego.v1\n\nallow if {\n\tinput.attributes.request.http.method == "GET"\n\tx == 1\n}\n';
  await assert.rejects(compileRego({ module, entrypoint: 'envoy/authz/allow' }, { opa }), (err: unknown) => {
    assert.ok(err instanceof PolicyRejectedError);
    assert.deepEqual(
      err.issues.map((i) => [i.file, i.line, i.column, i.code, i.message]),
      [['policy.rego', 7, 2, 'rego_unsafe_var_error', 'var x is unsafe']],
    );
    return true;
  });
});

test('an unsafe variable in a v0 module is reported as such, not as a v1 parse error', async () => {
  const module = 'package envoy.authz\n\ndefault allow = false\n\nallow {\n\ty == 1\n}\n';
  await assert.rejects(compileRego({ module, entrypoint: 'envoy/authz/allow' }, { opa }), (err: unknown) => {
    assert.ok(err instanceof PolicyRejectedError);
    assert.deepEqual(
      err.issues.map((i) => [i.line, i.code]),
      [[6, 'rego_unsafe_var_error']],
    );
    return true;
  });
});

test('a syntax error, a missing entrypoint and an oversized module are rejected', async () => {
  await assert.rejects(
    compileRego({ module: 'package x\n\nallow if {\n  input.a ==\n', entrypoint: 'x/allow' }, { opa }),
    (err: unknown) =>
      err instanceof PolicyRejectedError &&
      err.issues[0]?.code === 'rego_parse_error' &&
      err.issues[0].line === 5,
  );
  await assert.rejects(
    compileRego({ module: 'package x\n\nallow := true\n', entrypoint: 'x/nope' }, { opa }),
    (err: unknown) => err instanceof PolicyRejectedError && err.issues[0]?.code === 'rego_build_error',
  );
  await assert.rejects(
    compileRego({ module: `package x\n# ${'x'.repeat(2 * 1024 * 1024)}\n`, entrypoint: 'x/allow' }, { opa }),
    (err: unknown) => err instanceof PolicyRejectedError && err.issues[0]?.code === 'too_large',
  );
});

test('a missing opa binary is a tool error, not a policy rejection', async () => {
  await assert.rejects(
    compileRego(
      { module: 'package x\n\nallow := true\n', entrypoint: 'x/allow' },
      { opa: '/nonexistent/opa' },
    ),
    RegoToolError,
  );
});
