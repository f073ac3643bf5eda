import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PolicyRejectedError } from '../errors.ts';
import { compileAuthorizationPolicies } from './engine.ts';
import { parseAuthorizationPolicies } from './parse.ts';

const header = (name: string, ns = 'foo') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n`;

test('parses v1beta1 and v1 documents of one text', () => {
  const text = `${header('a').replace('/v1', '/v1beta1')}spec:\n  action: DENY\n  rules:\n  - {}\n---\n${header('b')}spec: {}\n`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    policies.map((p) => [p.apiVersion, p.name, p.action, p.rules.length]),
    [
      ['security.istio.io/v1beta1', 'a', 'DENY', 1],
      ['security.istio.io/v1', 'b', 'ALLOW', 0],
    ],
  );
  assert.equal(policies[1]?.line, 11);
});

test('an unknown field is reported at its line and column', () => {
  const text = `${header('a')}spec:\n  rules:\n  - from:\n    - source:\n        principal: ["x"]\n`;
  const { issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.column, i.path]),
    [['unknown_field', 10, 9, 'spec.rules[0].from[0].source.principal']],
  );
});

test('an unknown action is reported, and the policy is kept as a deny for its scope', () => {
  const { policies, issues } = parseAuthorizationPolicies(`${header('a')}spec:\n  action: BLOCK\n`);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.column]),
    [['unknown_action', 7, 11]],
  );
  assert.equal(policies[0]?.action, 'DENY');
  assert.ok(policies[0]?.broken);
});

test('an unsupported when key, a bad IP, a bad port and a bad time window are all reported', () => {
  const text = `${header('a')}spec:
  rules:
  - when:
    - key: request.foo
      values: ["x"]
  - from:
    - source:
        ipBlocks: ["10.0.0.0/33"]
    to:
    - operation:
        ports: ["http"]
  - when:
    - key: request.time
      values: ["9-5"]
    - key: request.headers
      values: ["x"]
    - key: source.ip
`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line]),
    [
      ['unsupported_key', 9],
      ['invalid_value', 13],
      ['invalid_value', 16],
      ['invalid_value', 19],
      ['unsupported_key', 20],
      ['missing_field', 22],
    ],
  );
  // Every rule is kept but marked broken, so the compiler can apply the fail-safe asymmetry.
  assert.deepEqual(
    policies[0]?.rules.map((r) => r.broken !== undefined),
    [true, true, true],
  );
});

test('a YAML syntax error (bad indentation) is reported with its position', () => {
  const text = `${header('a')}spec:\n  rules:\n  - to:\n    - operation:\n        paths: ["/a"]\n       methods: ["GET"]\n`;
  const { issues } = parseAuthorizationPolicies(text);
  assert.equal(issues[0]?.code, 'yaml_syntax');
  assert.equal(issues[0]?.line, 11);
});

test('a repeated key is an error, not last-one-wins', () => {
  const { issues } = parseAuthorizationPolicies(`${header('a')}spec:\n  action: ALLOW\n  action: DENY\n`);
  assert.equal(issues[0]?.code, 'yaml_syntax');
});

test('a text over the size limit is rejected before parsing', () => {
  const big = `${header('a')}spec: {}\n# ${'x'.repeat(10 * 1024 * 1024)}\n`;
  const { issues } = parseAuthorizationPolicies(big);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.column]),
    [['too_large', 1, 1]],
  );
});

test('invalid path templates are rejected (Istio rules)', () => {
  const text = `${header('a')}spec:\n  rules:\n  - to:\n    - operation:\n        paths: ["/{**}/foo/{*}", "/foo/{*}.txt", "/foo/{*}/bar/{**}"]\n`;
  const { issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => i.path),
    ['spec.rules[0].to[0].operation.paths[0]', 'spec.rules[0].to[0].operation.paths[1]'],
  );
});

test('CUSTOM needs a provider; provider is only for CUSTOM; targetRef is refused', () => {
  const text = `${header('a')}spec:\n  action: CUSTOM\n---\n${header('b')}spec:\n  provider:\n    name: x\n---\n${header('c')}spec:\n  targetRef:\n    kind: Gateway\n`;
  const { issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => i.code),
    ['missing_field', 'invalid_field', 'unsupported_field'],
  );
});

test('missing namespace, wrong kind and wrong apiVersion are errors', () => {
  const text = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: a\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: b, namespace: foo}\n---\napiVersion: security.istio.io/v2\nkind: AuthorizationPolicy\nmetadata: {name: c, namespace: foo}\n`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.equal(policies.length, 0);
  assert.deepEqual(
    issues.map((i) => i.code),
    ['missing_field', 'unsupported_kind', 'unsupported_api_version'],
  );
});

test('compileAuthorizationPolicies rejects the whole text with every issue', () => {
  const text = `${header('a')}spec:\n  bogus: 1\n---\n${header('b')}spec:\n  action: NOPE\n`;
  assert.throws(
    () => compileAuthorizationPolicies(text),
    (err: unknown) => err instanceof PolicyRejectedError && err.issues.length === 2,
  );
});

test('a bare "-" rule is an error, not the match-everything rule', () => {
  const { policies, issues } = parseAuthorizationPolicies(`${header('a')}spec:\n  rules:\n  -\n`);
  assert.deepEqual(
    issues.map((i) => [i.code, i.path]),
    [['invalid_type', 'spec.rules[0]']],
  );
  assert.ok(policies[0]?.rules[0]?.broken);
});

test('missing apiVersion and metadata are reported once each', () => {
  const { issues } = parseAuthorizationPolicies('kind: AuthorizationPolicy\nspec: {}\n');
  assert.deepEqual(
    issues.map((i) => [i.code, i.path]),
    [['missing_field', 'apiVersion']],
  );
  const second = parseAuthorizationPolicies(
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: {}\n',
  );
  assert.deepEqual(
    second.issues.map((i) => [i.code, i.path]),
    [['missing_field', 'metadata']],
  );
});

test('empty and comment-only documents, a null document and a trailing --- are skipped, as kubectl does', () => {
  const a = `${header('a')}spec: {}\n`;
  const text = `# leading comment\n---\n${a}---\n# only a comment\n---\n\n---\n~\n---\n${header('b')}spec: {}\n--- # the end\n`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    policies.map((p) => p.name),
    ['a', 'b'],
  );
});

test('a policy without metadata.namespace takes the namespace given by the caller', () => {
  const text = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: a\nspec: {}\n---\n${header('b', 'bar')}spec: {}\n`;
  const given = parseAuthorizationPolicies(text, { namespace: 'shop' });
  assert.deepEqual(given.issues, []);
  assert.deepEqual(
    given.policies.map((p) => `${p.namespace}/${p.name}`),
    ['shop/a', 'bar/b'],
  );
  const without = parseAuthorizationPolicies(text);
  assert.deepEqual(
    without.issues.map((i) => [i.code, i.path]),
    [['missing_field', 'metadata.namespace']],
  );
});

test('serviceAccounts and notServiceAccounts: a bare name is read in the policy namespace', () => {
  const text = `${header('a')}spec:
  rules:
  - from:
    - source:
        serviceAccounts: ["sleep", "default/curl"]
        notServiceAccounts: ["ops/admin"]
    when:
    - key: source.serviceAccount
      values: ["web"]
`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(issues, []);
  assert.deepEqual(policies[0]?.rules[0]?.from, [
    { serviceAccounts: ['foo/sleep', 'default/curl'], notServiceAccounts: ['ops/admin'] },
  ]);
  assert.deepEqual(policies[0]?.rules[0]?.when, [{ key: 'source.serviceAccount', values: ['foo/web'] }]);
  // The namespace given by the caller counts as the policy's.
  const bare = parseAuthorizationPolicies(
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: a }\nspec:\n  rules:\n  - from:\n    - source: { serviceAccounts: ["sleep"] }\n',
    { namespace: 'shop' },
  );
  assert.deepEqual(bare.policies[0]?.rules[0]?.from, [{ serviceAccounts: ['shop/sleep'] }]);
});

test('serviceAccounts are checked as Istio checks them', () => {
  const text = `${header('a')}spec:
  rules:
  - from:
    - source:
        serviceAccounts: ["ns/*", "a/b/c", "/x", ""]
  - from:
    - source:
        serviceAccounts: ["default/sleep"]
        principals: ["cluster.local/ns/default/sa/sleep"]
  - from:
    - source:
        trustDomains: ["a*b", "td/x"]
`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.column, i.path]),
    [
      ['invalid_value', 10, 27, 'spec.rules[0].from[0].source.serviceAccounts[0]'],
      ['invalid_value', 10, 35, 'spec.rules[0].from[0].source.serviceAccounts[1]'],
      ['invalid_value', 10, 44, 'spec.rules[0].from[0].source.serviceAccounts[2]'],
      ['invalid_value', 10, 50, 'spec.rules[0].from[0].source.serviceAccounts[3]'],
      ['invalid_field', 13, 9, 'spec.rules[1].from[0].source'],
      ['invalid_value', 17, 24, 'spec.rules[2].from[0].source.trustDomains[0]'],
      ['invalid_value', 17, 31, 'spec.rules[2].from[0].source.trustDomains[1]'],
    ],
  );
  assert.match(issues[0]?.message ?? '', /no wildcard/);
  assert.match(issues[4]?.message ?? '', /serviceAccounts cannot be set with namespaces or principals/);
  assert.ok(policies[0]?.rules.every((r) => r.broken));
});

test('fields Istio knows and Warden does not enforce are named with what Istio does with them', () => {
  const text = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: a
  namespace: foo
  annotations:
    istio.io/dry-run: "true"
spec:
  targetRefs:
  - { kind: Gateway, group: gateway.networking.k8s.io, name: waypoint }
  rules:
  - when:
    - key: experimental.envoy.filters.network.mysql_proxy[db.table]
      values: ["[update]"]
`;
  const { policies, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.column]),
    [
      ['unsupported_field', 7, 5],
      ['unsupported_field', 9, 3],
      ['unsupported_key', 13, 12],
    ],
  );
  assert.match(issues[0]?.message ?? '', /only logs what it would decide, never enforcing it/);
  assert.match(issues[1]?.message ?? '', /Gateway, Service or ServiceEntry/);
  assert.match(issues[2]?.message ?? '', /Envoy filter/);
  assert.ok(policies[0]?.broken);
  // `istio.io/dry-run: "false"` is the same as no annotation.
  const off = parseAuthorizationPolicies(
    text.replace('"true"', '"false"').replace(/spec:[\s\S]*/, 'spec: {}\n'),
  );
  assert.deepEqual(off.issues, []);
});

// Inputs modelled on the cases of Istio's authz builder tests (pilot/pkg/security/authz/builder/
// testdata), written for Warden: each states on its first line whether Warden accepts it or which
// documented reason refuses it, and where (README, "Istio YAML").
const builderCases = new URL('../../testdata/istio-builder/', import.meta.url);
for (const file of readdirSync(builderCases).filter((f) => f.endsWith('.yaml'))) {
  test(`istio-builder/${file}`, () => {
    const text = readFileSync(new URL(file, builderCases), 'utf8');
    const expected = /^# expect: (accepted|refused (.+))$/m.exec(text);
    assert.ok(expected, 'the file states what to expect');
    const { policies, issues } = parseAuthorizationPolicies(text);
    const got = issues.map((i) => `${i.code} ${i.line}:${i.column}`).join(', ');
    if (expected[1] === 'accepted') {
      assert.equal(got, '');
      assert.ok(policies.length > 0 && policies.every((p) => !p.broken && p.rules.every((r) => !r.broken)));
    } else assert.equal(got, expected[2]);
  });
}
