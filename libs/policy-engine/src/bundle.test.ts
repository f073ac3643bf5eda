import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ROOT_NAMESPACE } from './authz/model.ts';
import { parseAuthorizationPolicies } from './authz/parse.ts';
import { buildPolicyRevision, parsePolicyBundle } from './bundle.ts';
import type { PolicyBundle } from './bundle.ts';
import { InvalidBundleError } from './errors.ts';

const { policies } = parseAuthorizationPolicies(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-get, namespace: shop }
spec:
  action: ALLOW
  selector: { matchLabels: { app: cart } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/web/sa/frontend"] } }]
      to: [{ operation: { methods: ["GET"], paths: ["/cart/*"] } }]
      when: [{ key: 'request.headers[x-tenant]', values: ["a"], notValues: ["b"] }]
`);
const policy = policies[0];
assert.ok(policy);

const meshDefaults: PolicyBundle = {
  kind: 'mesh-defaults',
  meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow', namespaces: { shop: 'deny' } },
};
const rego: PolicyBundle = {
  kind: 'rego',
  name: 'demo',
  entrypoint: 'demo/allow',
  regoVersion: 'v1',
  wasmBase64: 'AGFzbQ==',
  data: { users: ['ada'] },
};

/** What the store does: JSON out, JSON in. */
const stored = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('policy bundles', () => {
  it('reads back every kind as it was written', () => {
    for (const bundle of [{ kind: 'authorization-policy', policy }, meshDefaults, rego])
      assert.deepEqual(parsePolicyBundle(stored(bundle)), bundle);
  });

  it('refuses a malformed bundle, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /kind must be one of authorization-policy, rego, mesh-defaults/],
      [{ kind: 'python' }, /kind must be one of/],
      [
        { kind: 'authorization-policy', policy: { ...policy, action: 'PERMIT' } },
        /policy\.action must be one of/,
      ],
      [
        { kind: 'authorization-policy', policy: { ...policy, rules: [{ to: [{ verbs: ['GET'] }] }] } },
        /unknown field policy\.rules\[0\]\.to\[0\]\.verbs/,
      ],
      [{ kind: 'authorization-policy', policy: { ...policy, name: 7 } }, /policy\.name must be a string/],
      [{ ...rego, regoVersion: 'v2' }, /regoVersion must be one of v1, v0/],
      [{ ...rego, data: [] }, /data must be a mapping/],
      [
        { kind: 'mesh-defaults', meshDefault: { default: 'maybe' } },
        /meshDefault: default must be allow or deny/,
      ],
      [
        { kind: 'mesh-defaults', meshDefault: { kind: 'MeshDefaults', default: 'deny' } },
        /unknown field kind/,
      ],
      [{ ...meshDefaults, extra: 1 }, /unknown field extra/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parsePolicyBundle(stored(value)),
        (err: unknown) =>
          err instanceof InvalidBundleError && err.code === 'invalid_bundle' && message.test(err.message),
        JSON.stringify(value),
      );
    }
  });

  it('builds the revision of a policy set: policies, mesh defaults', async () => {
    const revision = await buildPolicyRevision(
      [{ kind: 'authorization-policy', policy }, parsePolicyBundle(stored(meshDefaults))],
      { revision: 7 },
    );
    assert.equal(revision.revision, 7);
    assert.deepEqual(revision.policies, [policy]);
    assert.deepEqual(revision.meshDefault, meshDefaults.meshDefault);
    const other = revision.decide({
      destination: { namespace: 'web', labels: {} },
      http: { method: 'GET', path: '/' },
    });
    assert.deepEqual([other.allowed, other.reason], [true, 'mesh_default']);
  });
});
