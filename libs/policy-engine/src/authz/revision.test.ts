import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Engine } from './engine.ts';
import { DEFAULT_ROOT_NAMESPACE } from './model.ts';
import type { AuthorizationPolicy, AuthzRequest } from './model.ts';
import { parseAuthorizationPolicies } from './parse.ts';
import { PolicyRevision } from './revision.ts';

const doc = (name: string, spec: string, ns = 'foo') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n${spec}`;

const lenient = (text: string): AuthorizationPolicy[] => parseAuthorizationPolicies(text).policies;

const req = (over: Partial<AuthzRequest['http']> = {}, port = 8000): AuthzRequest => ({
  destination: { namespace: 'foo', labels: { app: 'web' }, port },
  source: { principal: 'cluster.local/ns/foo/sa/client', ip: '10.0.0.1' },
  http: { method: 'GET', path: '/', ...over },
});

test('fail-safe asymmetry: a broken ALLOW rule is dropped', () => {
  const policies = lenient(
    doc('a', '  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n        ports: ["bogus"]\n'),
  );
  const d = new PolicyRevision(policies, {
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  }).decide(req());
  // Without the drop, the remaining `methods: [GET]` would have allowed it.
  assert.equal(d.allowed, false);
  assert.equal(d.reason, 'no_allow_matched');
});

test('fail-safe asymmetry: a bad DENY value widens the denial', () => {
  const policies = lenient(
    doc(
      'd',
      '  action: DENY\n  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n        ports: ["bogus"]\n',
    ),
  );
  const revision = new PolicyRevision(policies, {
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  });
  const d = revision.decide(req({}, 1234));
  assert.equal(d.allowed, false);
  assert.equal(d.policy, 'ns[foo]-policy[d]-rule[0]');
  assert.equal(revision.decide(req({ method: 'POST' })).allowed, true);
});

test('a DENY policy that cannot be understood denies its whole scope', () => {
  const policies = lenient(
    doc('x', '  action: BLOCK\n  rules:\n  - to:\n    - operation:\n        paths: ["/a"]\n'),
  );
  const revision = new PolicyRevision(policies, {
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  });
  const d = revision.decide(req({ path: '/b' }));
  assert.deepEqual([d.allowed, d.reason, d.policy], [false, 'broken_policy', 'ns[foo]-policy[x]']);
  assert.equal(revision.decide({ ...req(), destination: { namespace: 'bar' } }).allowed, true);
});

test('an unparsable request is denied with a reason, never thrown', () => {
  const revision = new PolicyRevision([], {
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  });
  for (const bad of [
    {},
    { destination: { namespace: '' } },
    { destination: { namespace: 'foo', port: 70000 } },
    { destination: { namespace: 'foo' }, source: { ip: 'not-an-ip' } },
    { destination: { namespace: 'foo' }, http: { method: 'GET', path: 'no-slash' } },
    { destination: { namespace: 'foo' }, time: 'yesterday' },
    null,
  ]) {
    const d = revision.decide(bad as unknown as AuthzRequest);
    assert.deepEqual([d.allowed, d.reason], [false, 'invalid_request']);
  }
});

test('a CUSTOM provider that throws denies', () => {
  const policies = lenient(doc('c', '  action: CUSTOM\n  provider:\n    name: rego\n  rules:\n  - {}\n'));
  const providers = new Map([
    [
      'rego',
      () => {
        throw new Error('boom');
      },
    ],
  ]);
  const d = new PolicyRevision(policies, {
    providers,
    meshDefault: { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'allow' },
  }).decide(req());
  assert.deepEqual([d.allowed, d.reason], [false, 'custom_denied']);
});

test("a CUSTOM provider's decision object reaches the decision: its denial, or its headers when the request is allowed", () => {
  const response = (status: number, header: string) => ({
    httpStatus: status,
    headers: [[header, '1']] as [string, string][],
    responseHeadersToAdd: [],
    requestHeadersToRemove: ['authorization'],
    body: status === 200 ? '' : 'no',
  });
  const custom = (name: string) =>
    doc(name, `  action: CUSTOM\n  provider:\n    name: ${name}\n  rules:\n  - {}\n`);
  const allowing = new Map([
    ['a', () => ({ allowed: true, response: response(200, 'x-a') })],
    ['b', () => ({ allowed: true, response: response(200, 'x-b') })],
  ]);
  const both = lenient(`${custom('a')}---\n${custom('b')}---\n${doc('all', '  rules:\n  - {}\n')}`);
  const allowed = new PolicyRevision(both, { providers: allowing }).decide(req());
  assert.deepEqual(allowed.response?.headers, [
    ['x-a', '1'],
    ['x-b', '1'],
  ]);
  assert.deepEqual(allowed.response?.requestHeadersToRemove, ['authorization', 'authorization']);
  // Allowed by the providers but by no ALLOW rule: denied, and their headers do not apply.
  const none = lenient(
    `${custom('a')}---\n${doc('other', '  rules:\n  - to:\n    - operation:\n        paths: ["/x"]\n')}`,
  );
  assert.equal(new PolicyRevision(none, { providers: allowing }).decide(req()).response, undefined);
  const denying = new Map([['a', () => ({ allowed: false, response: response(401, 'www-authenticate') })]]);
  const denied = new PolicyRevision(lenient(custom('a')), { providers: denying }).decide(req());
  assert.deepEqual([denied.allowed, denied.response?.httpStatus, denied.response?.body], [false, 401, 'no']);
});

test('hot swap is atomic: a decision in flight keeps the revision it started with', () => {
  const allowAll = new PolicyRevision(lenient(doc('all', '  rules:\n  - {}\n')), { revision: 1 });
  const engine = new Engine(allowAll);
  let swapped = false;
  // A provider that swaps the engine in the middle of a decision: the rest of that decision must
  // still see revision 2's CUSTOM policy and rules, and the next decision revision 3.
  const denyAll = new PolicyRevision(lenient(doc('none', '  action: DENY\n  rules:\n  - {}\n')), {
    revision: 3,
  });
  const providers = new Map([
    [
      'swapper',
      () => {
        engine.swap(denyAll);
        swapped = true;
        return { allowed: true };
      },
    ],
  ]);
  const middle = new PolicyRevision(
    lenient(
      doc('c', '  action: CUSTOM\n  provider:\n    name: swapper\n  rules:\n  - {}\n') +
        '---\n' +
        doc('all', '  rules:\n  - {}\n'),
    ),
    { revision: 2, providers },
  );
  assert.equal(engine.decide(req()).revision, 1);
  assert.ok(engine.swap(middle));
  const during = engine.decide(req());
  assert.ok(swapped);
  assert.deepEqual([during.allowed, during.revision], [true, 2]);
  const after = engine.decide(req());
  assert.deepEqual([after.allowed, after.revision], [false, 3]);
  assert.equal(engine.swap(allowAll), false, 'an older revision is never installed');
});

test('the index finds exactly what a full scan finds (property)', () => {
  const methods = ['GET', 'POST', 'PUT', 'DELETE'];
  const ports = ['80', '8000', '9000'];
  const segments = ['api', 'admin', 'static', 'x'];
  const rule = fc.record({
    methods: fc.option(fc.subarray(methods, { minLength: 1 }), { nil: undefined }),
    ports: fc.option(fc.subarray(ports, { minLength: 1 }), { nil: undefined }),
    path: fc.option(fc.constantFrom('/api/*', '/admin', '/static/{*}', '*/x', '/a*'), { nil: undefined }),
    action: fc.constantFrom('ALLOW', 'DENY'),
  });
  const request = fc.record({
    method: fc.constantFrom(...methods),
    port: fc.constantFrom(...ports.map(Number), 1234),
    path: fc.constantFrom(...segments.map((s) => `/${s}/1`), '/admin', '/x', '/abc'),
  });
  fc.assert(
    fc.property(
      fc.array(rule, { minLength: 1, maxLength: 40 }),
      fc.array(request, { maxLength: 20 }),
      (rules, requests) => {
        const text = rules
          .map((r, i) => {
            const op = [
              r.methods ? `        methods: ${JSON.stringify(r.methods)}\n` : '',
              r.ports ? `        ports: ${JSON.stringify(r.ports)}\n` : '',
              r.path ? `        paths: ${JSON.stringify([r.path])}\n` : '',
            ].join('');
            const body = op ? `  - to:\n    - operation:\n${op}` : '  - {}\n';
            return doc(`p${String(i).padStart(3, '0')}`, `  action: ${r.action}\n  rules:\n${body}`);
          })
          .join('---\n');
        const { policies, issues } = parseAuthorizationPolicies(text);
        assert.deepEqual(issues, []);
        const indexed = new PolicyRevision(policies);
        // One policy per revision: the index has nothing to prune, so this is the full scan.
        const scans = policies.map((p) => new PolicyRevision([p]));
        for (const r of requests) {
          const got = indexed.decide(req({ method: r.method, path: r.path }, r.port));
          const decisions = scans.map((s) => s.decide(req({ method: r.method, path: r.path }, r.port)));
          const firstDeny = decisions.find((d) => d.reason === 'deny_matched');
          const firstAllow = decisions.find((d) => d.reason === 'allow_matched');
          const hasAllow = rules.some((x) => x.action === 'ALLOW');
          const expected =
            firstDeny?.policy ?? (hasAllow ? (firstAllow?.policy ?? null) : 'mesh-default[foo]');
          assert.equal(got.policy, expected);
        }
      },
    ),
    { numRuns: 200 },
  );
});
