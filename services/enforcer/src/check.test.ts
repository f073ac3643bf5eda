import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckRequest } from '@warden/envoy';
import { DENY_REASON_HEADER } from '@warden/envoy';
import type { Decision } from '@warden/policy-engine';
import type { AccessRecord } from './check.ts';
import { CheckHandler } from './check.ts';

const request: CheckRequest = {
  attributes: {
    source: {
      principal: 'spiffe://warden.local/ns/shop/sa/frontend',
      address: { socket_address: { address: '10.0.0.1', port_value: 5000 } },
    },
    destination: { principal: 'spiffe://warden.local/ns/shop/sa/payment' },
    request: { http: { method: 'GET', path: '/pay', headers: {} } },
    context_extensions: { 'warden.namespace': 'shop', 'warden.label.app': 'payment' },
  },
};

const decision = (allowed: boolean): Decision => ({
  allowed,
  reason: allowed ? 'allow_matched' : 'no_allow_matched',
  policy: allowed ? 'ns[shop]-policy[pay]-rule[0]' : null,
  audit: [],
  message: '',
  revision: 3,
});

/** A stand-in certificate: `cert:<serial>:<spiffe id>`; anything else cannot be read. */
const fakeCert = (serial: string, id = 'spiffe://warden.local/ns/shop/sa/frontend'): string =>
  `cert:${serial}:${id}`;
const inspect = (pem: string): { serial: string; spiffeId: string } => {
  const m = /^cert:([0-9a-f]+):(.+)$/.exec(pem);
  if (!m?.[1] || !m[2]) throw new Error('not a certificate');
  return { serial: m[1], spiffeId: m[2] };
};
const withCert = (pem: string): CheckRequest => ({
  attributes: {
    ...request.attributes,
    source: { ...request.attributes?.source, certificate: encodeURIComponent(pem) },
  },
});

function handler(
  options: {
    revision?: number;
    allowed?: boolean;
    sample?: number;
    throws?: boolean;
    revoked?: string[];
    requireCert?: boolean;
  } = {},
) {
  const records: AccessRecord[] = [];
  const counted: string[] = [];
  const h = new CheckHandler({
    decide: () => {
      if (options.throws) throw new Error('boom');
      return decision(options.allowed ?? true);
    },
    revision: () => options.revision ?? 3,
    inspect,
    isRevoked: (serial) => (options.revoked ?? []).includes(serial),
    requirePeerCertificate: options.requireCert ?? false,
    record: (r) => void records.push(r),
    allowSample: options.sample ?? 0,
    random: () => 0.5,
    count: (allowed, reason) => void counted.push(`${allowed ? 'allow' : 'deny'}:${reason}`),
  });
  return { h, records, counted };
}

const reasonOf = (response: ReturnType<CheckHandler['check']>): string | undefined =>
  response.denied_response?.headers.find((o) => o.header.key === DENY_REASON_HEADER)?.header.value;

describe('CheckHandler', () => {
  it('allows what the revision allows, recording allows only at the sample rate', () => {
    const unsampled = handler({ sample: 0.4 });
    assert.equal(unsampled.h.check(request).status.code, 0);
    assert.deepEqual(unsampled.records, []);
    const sampled = handler({ sample: 0.6 });
    sampled.h.check(request);
    assert.equal(sampled.records[0]?.decision, 'allow');
    assert.equal(sampled.records[0]?.policy, 'ns[shop]-policy[pay]-rule[0]');
    assert.equal(sampled.records[0]?.revision, 3);
    assert.deepEqual(sampled.records[0]?.destination, {
      namespace: 'shop',
      workload: 'payment',
      principal: 'spiffe://warden.local/ns/shop/sa/payment',
    });
    assert.deepEqual(sampled.counted, ['allow:allow_matched']);
  });

  it('denies and records every deny, with its reason', () => {
    const { h, records } = handler({ allowed: false, sample: 0 });
    const response = h.check(request);
    assert.equal(response.status.code, 7);
    assert.equal(response.denied_response?.status.code, 403);
    assert.equal(reasonOf(response), 'no_allow_matched');
    assert.equal(records[0]?.reason, 'no_allow_matched');
    assert.equal(records[0]?.source.workload, 'frontend');
  });

  it('fails closed: no revision yet, a request it cannot read, an evaluation that throws', () => {
    assert.equal(reasonOf(handler({ revision: 0 }).h.check(request)), 'no_revision');
    const unreadable = handler();
    assert.equal(reasonOf(unreadable.h.check({ attributes: { destination: {} } })), 'invalid_request');
    assert.equal(unreadable.records[0]?.decision, 'deny');
    assert.equal(reasonOf(handler({ throws: true }).h.check(request)), 'evaluation_error');
  });

  it('denies a peer without a verified identity before any policy is asked (ARCHITECTURE §4 step 1)', () => {
    const plaintext = {
      attributes: { ...request.attributes, source: { address: { socket_address: { address: '10.0.0.1' } } } },
    };
    assert.equal(reasonOf(handler().h.check(plaintext)), 'no_peer_identity');
  });

  it('denies a revoked certificate, one of another identity, an unreadable one, and none when one is required', () => {
    assert.equal(handler({ revoked: ['1f'] }).h.check(withCert(fakeCert('2a'))).status.code, 0);
    assert.equal(
      reasonOf(handler({ revoked: ['1f'] }).h.check(withCert(fakeCert('1f')))),
      'revoked_identity',
    );
    const other = fakeCert('2a', 'spiffe://warden.local/ns/shop/sa/admin');
    assert.equal(reasonOf(handler().h.check(withCert(other))), 'invalid_request');
    assert.equal(reasonOf(handler().h.check(withCert('garbage'))), 'invalid_request');
    assert.equal(reasonOf(handler({ requireCert: true }).h.check(request)), 'no_peer_certificate');
    assert.equal(handler({ requireCert: true }).h.check(withCert(fakeCert('2a'))).status.code, 0);
  });

  it('keeps a record valid when the request carries names the schema refuses', () => {
    const { h, records } = handler({ allowed: false });
    h.check({
      attributes: {
        ...request.attributes,
        context_extensions: { 'warden.namespace': 'Not A Label!', 'warden.label.app': '../../etc' },
      },
    });
    assert.equal(records[0]?.destination.namespace, undefined);
    // The odd label is left out; the service account names the workload.
    assert.equal(records[0]?.destination.workload, 'payment');
  });
});
