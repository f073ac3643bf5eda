import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAuthorizationPolicies } from '../authz/parse.ts';
import { analyzePolicies } from './analyze.ts';
import { generateCorpus } from './corpus.ts';
import { checkEquivalence } from './equivalence.ts';
import { minimizePolicies } from './minimize.ts';
import { fieldCovers, patternCovers, ruleCovers } from './subsume.ts';

const policies = (text: string) => {
  const { policies: out, issues } = parseAuthorizationPolicies(text);
  assert.deepEqual(issues, []);
  return out;
};

const doc = (name: string, spec: string, ns = 'foo') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n${spec}`;

test('pattern cover: exact, prefix, suffix, presence, CIDR, templates', () => {
  assert.ok(patternCovers('/api/*', '/api/v1', 'path'));
  assert.ok(patternCovers('/api/*', '/api/v1/*', 'path'));
  assert.ok(patternCovers('/api/*', '/api/{*}', 'path'));
  assert.ok(!patternCovers('/api/v1', '/api/*', 'path'));
  assert.ok(patternCovers('*.example.com', 'API.example.com', 'host'));
  assert.ok(patternCovers('*', 'x', 'string') && !patternCovers('x', '*', 'string'));
  assert.ok(
    patternCovers('10.0.0.0/8', '10.1.0.0/16', 'ip') && !patternCovers('10.1.0.0/16', '10.0.0.0/8', 'ip'),
  );
  assert.ok(!patternCovers('80', '8080', 'exact'));
  // notValues: a excludes /admin; b excludes /admin* as well, so b matches nothing a excludes.
  assert.ok(fieldCovers(undefined, ['/admin'], undefined, ['/admin*'], 'path'));
  assert.ok(!fieldCovers(undefined, ['/admin*'], undefined, ['/admin'], 'path'));
  assert.ok(fieldCovers(undefined, ['DELETE'], ['GET'], undefined, 'string'));
});

test('rule cover: sources and operations ORed, conditions ANDed', () => {
  const broad = { from: [{ namespaces: ['a', 'b'] }], to: [{ methods: ['GET'] }] };
  const narrow = {
    from: [{ namespaces: ['a'] }],
    to: [{ methods: ['GET'], paths: ['/x'] }],
    when: [{ key: 'source.ip', values: ['10.0.0.1'] }],
  };
  assert.ok(ruleCovers(broad, narrow));
  assert.ok(!ruleCovers(narrow, broad));
  assert.ok(ruleCovers({}, broad));
  assert.ok(
    !ruleCovers(
      { when: [{ key: 'request.auth.audiences', notValues: ['x'] }] },
      { when: [{ key: 'request.auth.audiences', values: ['y'] }] },
    ),
  );
});

test('findings: conflict, shadowed, redundant, unknown selector, mTLS-only fields on plaintext', () => {
  const set = policies(
    [
      doc(
        'allow-get',
        '  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n  - to:\n    - operation:\n        methods: ["GET"]\n        paths: ["/a"]\n',
      ),
      doc('deny-get', '  action: DENY\n  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n'),
      doc(
        'admin',
        '  selector:\n    matchLabels:\n      app: web\n  rules:\n  - from:\n    - source:\n        principals: ["cluster.local/ns/foo/sa/admin"]\n    to:\n    - operation:\n        methods: ["DELETE"]\n',
      ),
      doc('ghost', '  selector:\n    matchLabels:\n      app: ghost\n  rules:\n  - {}\n'),
    ].join('---\n'),
  );
  const findings = analyzePolicies(set, {
    workloads: [{ namespace: 'foo', labels: { app: 'web' }, plaintext: true }],
  });
  assert.deepEqual(
    findings.map((f) => [f.kind, f.subject, f.by ?? null]),
    [
      ['conflict', 'ns[foo]-policy[allow-get]-rule[0]', 'ns[foo]-policy[deny-get]-rule[0]'],
      ['shadowed', 'ns[foo]-policy[allow-get]-rule[1]', 'ns[foo]-policy[deny-get]-rule[0]'],
      ['unknown_selector', 'ns[foo]-policy[ghost]', null],
      ['mtls_only_on_plaintext', 'ns[foo]-policy[admin]-rule[0]', null],
    ],
  );
});

test('duplicates are redundant once, on the later copy', () => {
  const set = policies(
    [
      doc('a', '  rules:\n  - to:\n    - operation:\n        paths: ["/x*"]\n'),
      doc('b', '  rules:\n  - to:\n    - operation:\n        paths: ["/x*"]\n'),
    ].join('---\n'),
  );
  assert.deepEqual(
    analyzePolicies(set).map((f) => [f.kind, f.subject, f.by]),
    [['redundant', 'ns[foo]-policy[b]-rule[0]', 'ns[foo]-policy[a]-rule[0]']],
  );
});

test('the 512-rule corpus of 32 intents minimises to at most 32 rules, with the same decisions', () => {
  const corpus = generateCorpus();
  assert.equal(
    corpus.reduce((n, p) => n + p.rules.length, 0),
    512,
  );
  const result = minimizePolicies(corpus);
  assert.equal(result.rulesBefore, 512);
  assert.ok(result.rulesAfter <= 32, `${result.rulesAfter} rules left`);
  // Every dropped or merged rule is accounted for, with a reason.
  const touched = new Set(result.changes.filter((c) => c.subject.includes('-rule[')).map((c) => c.subject));
  assert.equal(touched.size, 512 - result.rulesAfter);
  assert.ok(result.changes.every((c) => c.reason.length > 0));
  const report = checkEquivalence(corpus, result.policies, { requests: 100_000, seed: 7 });
  assert.deepEqual(report.mismatches, []);
  assert.equal(report.checked, 100_000);
  // The generated requests exercise both outcomes, not just the default deny.
  assert.ok(report.allowed > 1_000 && report.allowed < 99_000, `${report.allowed} allowed`);
});

test('the equivalence check catches a minimisation that drops a rule that matters', () => {
  const corpus = generateCorpus();
  const result = minimizePolicies(corpus);
  const broken = result.policies.map((p, i) => (i === 5 ? { ...p, rules: p.rules.slice(1) } : p));
  assert.ok(checkEquivalence(corpus, broken, { requests: 20_000, seed: 3 }).mismatches.length > 0);
});

test('minimisation merges split rules and keeps an emptied ALLOW policy', () => {
  const set = policies(
    [
      doc('get', '  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n        paths: ["/a"]\n'),
      doc('post', '  rules:\n  - to:\n    - operation:\n        methods: ["POST"]\n        paths: ["/a"]\n'),
      doc('deny', '  action: DENY\n  rules:\n  - {}\n', 'bar'),
      doc('shadowed', '  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n', 'bar'),
    ].join('---\n'),
  );
  const result = minimizePolicies(set);
  assert.deepEqual(
    result.policies.map((p) => [p.namespace, p.name, p.action, JSON.stringify(p.rules)]),
    [
      ['bar', 'deny', 'DENY', '[{}]'],
      ['bar', 'shadowed', 'ALLOW', '[]'],
      ['foo', 'get', 'ALLOW', JSON.stringify([{ to: [{ methods: ['GET', 'POST'], paths: ['/a'] }] }])],
    ],
  );
  assert.deepEqual(checkEquivalence(set, result.policies, { requests: 20_000 }).mismatches, []);
});

test('HTTP-only fields on a rule that only matches plain TCP: dropped in ALLOW, widened in DENY', () => {
  const set = policies(
    [
      // MySQL's port: only plain TCP reaches it, so the methods cannot be read.
      doc(
        'allow-select',
        '  selector:\n    matchLabels:\n      app: db\n  rules:\n  - to:\n    - operation:\n        ports: ["3306"]\n        methods: ["SELECT"]\n',
      ),
      doc(
        'deny-admin-path',
        '  action: DENY\n  selector:\n    matchLabels:\n      app: queue\n  rules:\n  - to:\n    - operation:\n        ports: ["7000"]\n        paths: ["/admin*"]\n        hosts: ["queue.foo"]\n',
      ),
      // The workload says 7001 carries HTTP: no finding.
      doc(
        'allow-web',
        '  selector:\n    matchLabels:\n      app: queue\n  rules:\n  - to:\n    - operation:\n        ports: ["7001"]\n        methods: ["GET", "get"]\n',
      ),
      // Not every port is TCP: the rule can match HTTP on 8080.
      doc(
        'allow-mixed',
        '  rules:\n  - to:\n    - operation:\n        ports: ["3306", "8080"]\n        methods: ["GET"]\n',
      ),
    ].join('---\n'),
  );
  const findings = analyzePolicies(set, {
    workloads: [
      { namespace: 'foo', labels: { app: 'db' } },
      { namespace: 'foo', labels: { app: 'queue' }, tcpPorts: [7000], httpPorts: [7001] },
    ],
  });
  const of = (kind: string) => findings.filter((f) => f.kind === kind);
  assert.deepEqual(
    of('http_fields_on_tcp').map((f) => f.subject),
    ['ns[foo]-policy[allow-select]-rule[0]', 'ns[foo]-policy[deny-admin-path]-rule[0]'],
  );
  assert.match(
    of('http_fields_on_tcp')[0]?.message ?? '',
    /methods .*port 3306 is MySQL's well-known port.*drops the rule, so it never matches/,
  );
  assert.match(
    of('http_fields_on_tcp')[1]?.message ?? '',
    /paths, hosts .*declares port 7000 TCP.*widens the rule to the port, so it denies every connection/,
  );
  assert.deepEqual(
    of('non_http_method').map((f) => [f.subject, f.message.replace(/^.*?: /, '')]),
    [
      [
        'ns[foo]-policy[allow-select]-rule[0]',
        'method "SELECT" never matches: it is not an HTTP method (Istio matches the HTTP :method header; a TCP protocol has none)',
      ],
      [
        'ns[foo]-policy[allow-web]-rule[0]',
        'method "get" never matches: methods are compared exactly and requests say GET',
      ],
    ],
  );
});
