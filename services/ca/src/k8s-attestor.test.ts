import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { VerifiedCsr } from '@warden/pki';
import { createCsr, generateKeyPair, verifyCsrFast } from '@warden/pki';
import { attestors } from './attest.ts';
import type { Evidence } from './attest.ts';
import {
  AttestorUnavailableError,
  IdentityMismatchError,
  ReviewerUnavailableError,
  TokenRejectedError,
} from './errors.ts';
import { kubernetesTokenAttestor } from './k8s-attestor.ts';
import type { TokenReviewer, TokenReviewResult } from './k8s-attestor.ts';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/payments/sa/api`;
/** Shaped like a service-account JWT; only the reviewer double ever looks at it. */
const TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl';
const sat = (token = TOKEN): Evidence => ({ type: 'k8s-sat', token });

const authenticated: TokenReviewResult = {
  authenticated: true,
  username: 'system:serviceaccount:payments:api',
  uid: '2f7a8c0e-6b1d-4a53-9a3c-0d3c5e1f9b21',
  audiences: [TD],
};

/** A TokenReviewer test double: answers what it is told and records what it was asked. */
class ReviewerDouble implements TokenReviewer {
  readonly calls: { token: string; audiences: readonly string[] }[] = [];
  answer: TokenReviewResult | Error;
  constructor(answer: TokenReviewResult | Error) {
    this.answer = answer;
  }
  review(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    this.calls.push({ token, audiences });
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }
}

describe('Kubernetes service-account token attestor', () => {
  let csr: VerifiedCsr;
  before(async () => {
    csr = await verifyCsrFast(await createCsr(await generateKeyPair(), ID));
  });

  const attestorWith = (answer: TokenReviewResult | Error, audiences?: string[]) => {
    const reviewer = new ReviewerDouble(answer);
    const attest = kubernetesTokenAttestor({
      reviewer,
      trustDomain: TD,
      ...(audiences ? { audiences } : {}),
    });
    return { reviewer, attest };
  };

  it('vouches for spiffe://<td>/ns/<ns>/sa/<sa> of an authenticated service account, for the trust domain audience', async () => {
    const { reviewer, attest } = attestorWith(authenticated);
    const attestation = await attest(sat(), csr);
    assert.equal(attestation.spiffeId, ID);
    assert.equal(attestation.method, 'k8s-sat');
    await attestation.commit();
    assert.deepEqual(reviewer.calls, [{ token: TOKEN, audiences: [TD] }]);
  });

  it('asks for the configured audiences and accepts a token valid for any one of them', async () => {
    const { reviewer, attest } = attestorWith({ ...authenticated, audiences: ['warden-ca'] }, [
      'istio-ca',
      'warden-ca',
    ]);
    assert.equal((await attest(sat(), csr)).spiffeId, ID);
    assert.deepEqual(reviewer.calls[0]?.audiences, ['istio-ca', 'warden-ca']);
  });

  it('rejects a token the API server does not authenticate', async () => {
    const { attest } = attestorWith({
      authenticated: false,
      username: '',
      uid: '',
      audiences: [],
      error: '[invalid bearer token, service account token has expired]',
    });
    await assert.rejects(attest(sat(), csr), TokenRejectedError);
    const { attest: silent } = attestorWith({ authenticated: false, username: '', uid: '', audiences: [] });
    await assert.rejects(silent(sat(), csr), TokenRejectedError);
    const { attest: confused } = attestorWith({ ...authenticated, error: 'partial failure' });
    await assert.rejects(confused(sat(), csr), TokenRejectedError);
  });

  it('rejects users that are not service accounts, or whose names make no SPIFFE ID', async () => {
    for (const username of [
      'kubernetes-admin',
      'system:node:worker-1',
      'system:serviceaccount:payments',
      'system:serviceaccount:payments:api:extra',
      'system:serviceaccount::api',
      'system:serviceaccount:Payments:api',
      'system:serviceaccounts:payments:api',
      '',
    ]) {
      const { attest } = attestorWith({ ...authenticated, username });
      await assert.rejects(attest(sat(), csr), TokenRejectedError, username);
    }
  });

  it('refuses a CSR for another SPIFFE ID than the service account', async () => {
    const { attest } = attestorWith({ ...authenticated, username: 'system:serviceaccount:payments:worker' });
    await assert.rejects(attest(sat(), csr), IdentityMismatchError);
    const other = await verifyCsrFast(
      await createCsr(await generateKeyPair(), 'spiffe://other.example/ns/payments/sa/api'),
    );
    const { attest: sameAccount } = attestorWith(authenticated);
    await assert.rejects(sameAccount(sat(), other), IdentityMismatchError);
  });

  it('rejects a token not confirmed for this CA audience', async () => {
    const { attest } = attestorWith({ ...authenticated, audiences: ['https://kubernetes.default.svc'] });
    await assert.rejects(attest(sat(), csr), TokenRejectedError);
    const { attest: none } = attestorWith({ ...authenticated, audiences: [] });
    await assert.rejects(none(sat(), csr), TokenRejectedError);
  });

  it('fails closed when the reviewer cannot answer', async () => {
    const { attest } = attestorWith(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    await assert.rejects(attest(sat(), csr), ReviewerUnavailableError);
    const failing = new ReviewerUnavailableError('HTTP 403');
    const { attest: forbidden } = attestorWith(failing);
    await assert.rejects(forbidden(sat(), csr), (err) => err === failing);
  });

  it('rejects oversized and non-JWT tokens without asking the API server', async () => {
    const { reviewer, attest } = attestorWith(authenticated);
    const big = `${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`;
    await assert.rejects(attest(sat(big), csr), TokenRejectedError);
    for (const token of ['not-a-jwt', 'a.b', 'a.b.c.d', 'a.b.', 'a b.c.d', 'a.b.c\n'])
      await assert.rejects(attest(sat(token), csr), TokenRejectedError, token);
    const { reviewer: small, attest: strict } = attestorWith(authenticated);
    const limited = kubernetesTokenAttestor({ reviewer: small, trustDomain: TD, maxTokenBytes: 32 });
    await assert.rejects(limited(sat(), csr), TokenRejectedError);
    assert.equal((await strict(sat(), csr)).spiffeId, ID);
    assert.equal(reviewer.calls.length, 0);
    assert.equal(small.calls.length, 1, 'only the token within the limit was reviewed');
  });

  it('is chosen only for k8s-sat evidence, and k8s-sat without it is refused', async () => {
    const { attest } = attestorWith(authenticated);
    await assert.rejects(attest({ type: 'join-token', token: 'wjt_x' }, csr), AttestorUnavailableError);
    await assert.rejects(async () => attestors({})(sat(), csr), AttestorUnavailableError);
    assert.equal((await attestors({ 'k8s-sat': attest })(sat(), csr)).spiffeId, ID);
  });
});
