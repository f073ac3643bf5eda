import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpiffeIdError, SpiffeIdProblem } from './errors.ts';
import {
  istioSpiffeId,
  isSpiffeId,
  parseIstioSpiffeId,
  parseSpiffeId,
  parseTrustDomain,
  spiffeIdFromSegments,
} from './spiffe.ts';

// Cases from the SPIFFE ID specification (sections 2.1–2.3) and go-spiffe's spiffeid tests.
const valid: readonly [string, string, readonly string[]][] = [
  ['spiffe://trust-domain-name/path', 'trust-domain-name', ['path']],
  ['spiffe://staging.example.com/payments/mysql', 'staging.example.com', ['payments', 'mysql']],
  ['spiffe://example.org', 'example.org', []],
  [
    'spiffe://k8s-west.example.com/ns/staging/sa/default',
    'k8s-west.example.com',
    ['ns', 'staging', 'sa', 'default'],
  ],
  [
    'spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453',
    'example.org',
    ['9eebccd2-12bf-40a6-b262-65fe0487d453'],
  ],
  ['spiffe://a_b.c-d/A.b_C-1', 'a_b.c-d', ['A.b_C-1']],
  ['spiffe://example.org/.../a..b/.c', 'example.org', ['...', 'a..b', '.c']],
  ['spiffe://1.2.3.4/x', '1.2.3.4', ['x']],
];

const P = SpiffeIdProblem;
const invalid: readonly [string, SpiffeIdProblem][] = [
  ['', P.empty],
  ['http://example.org/a', P.scheme],
  ['SPIFFE://example.org/a', P.scheme],
  ['Spiffe://example.org/a', P.scheme],
  ['spiffe:/example.org/a', P.scheme],
  ['spiffe:example.org', P.scheme],
  ['spiffe://', P.missingTrustDomain],
  ['spiffe:///path', P.missingTrustDomain],
  ['spiffe://Example.org/a', P.trustDomainChar],
  ['spiffe://exa mple.org/a', P.trustDomainChar],
  ['spiffe://ex%41mple.org/a', P.trustDomainChar],
  ['spiffe://[::1]/a', P.port],
  ['spiffe://user@example.org/a', P.userinfo],
  ['spiffe://user:pass@example.org/a', P.userinfo],
  ['spiffe://example.org:8080/a', P.port],
  ['spiffe://example.org/a?x=1', P.query],
  ['spiffe://example.org?x', P.query],
  ['spiffe://example.org/a#frag', P.fragment],
  ['spiffe://example.org/', P.trailingSlash],
  ['spiffe://example.org/a/', P.trailingSlash],
  ['spiffe://example.org//a', P.emptySegment],
  ['spiffe://example.org/a//b', P.emptySegment],
  ['spiffe://example.org/./a', P.dotSegment],
  ['spiffe://example.org/a/..', P.dotSegment],
  ['spiffe://example.org/a/../b', P.dotSegment],
  ['spiffe://example.org/a%20b', P.pathChar],
  ['spiffe://example.org/a b', P.pathChar],
  ['spiffe://example.org/caf\u00e9', P.pathChar],
  ['spiffe://example.org/a+b', P.pathChar],
  [`spiffe://${'a'.repeat(256)}/x`, P.trustDomainTooLong],
  [`spiffe://example.org/${'a'.repeat(2048)}`, P.tooLong],
];

describe('SPIFFE IDs', () => {
  for (const [text, trustDomain, segments] of valid) {
    it(`accepts ${text}`, () => {
      const id = parseSpiffeId(text);
      assert.equal(id.trustDomain, trustDomain);
      assert.deepEqual(id.segments, segments);
      assert.equal(id.uri, text);
      assert.ok(isSpiffeId(text));
    });
  }
  for (const [text, problem] of invalid) {
    it(`refuses ${JSON.stringify(text.length > 60 ? `${text.slice(0, 40)}…` : text)} (${problem})`, () => {
      assert.throws(
        () => parseSpiffeId(text),
        (err: unknown) =>
          err instanceof SpiffeIdError && err.problem === problem && err.code === 'invalid_spiffe_id',
      );
      assert.equal(isSpiffeId(text), false);
    });
  }

  it('accepts exactly 2048 bytes and a 255-character trust domain, not one more', () => {
    const prefix = 'spiffe://example.org/';
    assert.ok(isSpiffeId(prefix + 'a'.repeat(2048 - prefix.length)));
    assert.equal(isSpiffeId(prefix + 'a'.repeat(2049 - prefix.length)), false);
    assert.equal(parseTrustDomain('a'.repeat(255)).length, 255);
    assert.throws(() => parseTrustDomain('a'.repeat(256)), SpiffeIdError);
  });

  it('counts bytes, not characters, against the 2048 limit', () => {
    // Multi-byte characters are refused anyway, but the length check must come first and in bytes.
    const text = `spiffe://example.org/${'\u00e9'.repeat(1020)}`;
    assert.throws(
      () => parseSpiffeId(text),
      (err: unknown) => err instanceof SpiffeIdError && err.problem === P.tooLong,
    );
  });

  it('builds from segments, validating each', () => {
    assert.equal(spiffeIdFromSegments('example.org', ['a', 'b']).uri, 'spiffe://example.org/a/b');
    assert.throws(() => spiffeIdFromSegments('example.org', ['a/b', '..']), SpiffeIdError);
  });
});

describe('Istio-shaped SPIFFE IDs', () => {
  it('builds and reads spiffe://<td>/ns/<ns>/sa/<sa>', () => {
    const id = istioSpiffeId('cluster.local', 'payments', 'api-server');
    assert.equal(id.uri, 'spiffe://cluster.local/ns/payments/sa/api-server');
    assert.deepEqual(parseIstioSpiffeId(id.uri), {
      trustDomain: 'cluster.local',
      namespace: 'payments',
      serviceAccount: 'api-server',
    });
  });

  it('refuses other shapes and non-Kubernetes names', () => {
    for (const text of [
      'spiffe://cluster.local/ns/payments',
      'spiffe://cluster.local/ns/payments/sa/api/extra',
      'spiffe://cluster.local/sa/api/ns/payments',
      'spiffe://cluster.local/ns/Payments/sa/api',
      'spiffe://cluster.local',
    ]) {
      assert.throws(
        () => parseIstioSpiffeId(text),
        (err: unknown) => err instanceof SpiffeIdError && err.problem === P.notIstio,
        text,
      );
    }
    assert.throws(() => istioSpiffeId('cluster.local', 'Bad_NS', 'sa'), SpiffeIdError);
    assert.throws(() => istioSpiffeId('cluster.local', 'ns', '-sa'), SpiffeIdError);
    assert.throws(() => istioSpiffeId('Cluster.local', 'ns', 'sa'), SpiffeIdError);
  });
});
