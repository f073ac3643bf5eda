/**
 * Evaluation errors of a Rego policy reach the deny reason with opa's message and position, never
 * as `[object Object]` (issue 11, deliverable 6): through `RegoPolicy.check`, its `provider()`, and
 * the CUSTOM provider `buildPolicyRevision` builds from a stored bundle.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildPolicyRevision,
  compileRego,
  parseAuthorizationPolicies,
  PolicyRevision,
  RegoPolicy,
} from '@warden/policy-engine';
import type { AuthzRequest, CompiledRego } from '@warden/policy-engine';

const opa = new URL('../../.tools/bin/opa', import.meta.url).pathname;

// Two complete definitions of `x` that both hold: a runtime conflict, found only when evaluating.
const conflicting = `package envoy.authz

import rego.v1

x := 1 if true

x := 2 if input.attributes.request.http.method == "GET"

default allow := false

allow if x == 1
`;

const request: AuthzRequest = {
  destination: { namespace: 'shop', labels: { app: 'web' }, port: 8080 },
  source: { principal: 'cluster.local/ns/shop/sa/client', ip: '10.0.0.7' },
  http: { method: 'GET', path: '/', host: 'web' },
};

const custom = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec:
  action: CUSTOM
  provider: { name: conflicting }
  rules: [{}]
`;

describe('Rego evaluation errors in deny reasons', () => {
  let compiled: CompiledRego;
  before(async () => {
    compiled = await compileRego({ module: conflicting, entrypoint: 'envoy/authz/allow' }, { opa });
  });

  it('RegoPolicy.check denies with the conflict and its file:row:col', async () => {
    const policy = await RegoPolicy.load(compiled);
    const outcome = policy.check(request);
    assert.equal(outcome.allowed, false);
    assert.deepEqual(outcome.error, {
      code: 'rego_eval_error',
      message: 'policy.rego:7:1: var assignment conflict',
    });
    // A POST does not reach the second definition, so the policy decides.
    assert.equal(policy.check({ ...request, http: { method: 'POST', path: '/' } }).allowed, true);
  });

  it('the provider of a CUSTOM policy gives the same text in the decision message', async () => {
    const policy = await RegoPolicy.load(compiled);
    const revision = new PolicyRevision(parseAuthorizationPolicies(custom).policies, {
      revision: 1,
      providers: new Map([['conflicting', policy.provider()]]),
    });
    const d = revision.decide(request);
    assert.equal(d.allowed, false);
    assert.match(d.message, /rego_eval_error: policy\.rego:7:1: var assignment conflict$/);
    assert.doesNotMatch(d.message, /object Object/);
  });

  it('a stored Rego bundle used as CUSTOM provider gives it too', async () => {
    const revision = await buildPolicyRevision(
      [
        {
          kind: 'rego',
          name: 'conflicting',
          entrypoint: compiled.entrypoint,
          regoVersion: compiled.regoVersion,
          wasmBase64: compiled.wasm.toString('base64'),
        },
        { kind: 'authorization-policy', policy: parseAuthorizationPolicies(custom).policies[0]! },
      ],
      { revision: 1 },
    );
    const d = revision.decide(request);
    assert.equal(d.allowed, false);
    assert.match(
      d.message,
      /rego\[conflicting\] failed: rego_eval_error: policy\.rego:7:1: var assignment conflict$/,
    );
  });

  it('renders every kind of value opa-wasm and host builtins throw', () => {
    const renderRegoError = (err: unknown): string => {
      const { code, message } = RegoPolicy.describeError(err);
      return `${code}: ${message}`;
    };
    // opa-wasm's missing builtin: a plain object with a message.
    assert.equal(
      renderRegoError({ message: 'not implemented: built-in function 3: io.jwt.decode' }),
      'rego_eval_error: not implemented: built-in function 3: io.jwt.decode',
    );
    assert.equal(
      renderRegoError({ message: 'boom', location: { file: 'authz.rego', row: 12, col: 5 } }),
      'rego_eval_error: authz.rego:12:5: boom',
    );
    assert.equal(
      renderRegoError('policy.rego:4:1: object insert conflict'),
      'rego_eval_error: policy.rego:4:1: object insert conflict',
    );
    assert.equal(renderRegoError(new TypeError('bad arg')), 'rego_eval_error: bad arg');
    assert.equal(renderRegoError({ code: 7 }), 'rego_eval_error: {"code":7}');
    assert.equal(renderRegoError(undefined), 'rego_eval_error: undefined');
  });
});
