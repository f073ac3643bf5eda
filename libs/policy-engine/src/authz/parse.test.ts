import assert from 'node:assert/strict';
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
