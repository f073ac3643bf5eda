import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { caBundle, caSign } from '@warden/events';
import { createCsr, generateKeyPair, verifyChain } from '@warden/pki';
import { ConfigError } from '@warden/runtime';
import { tempDir } from '@warden/testing';
import { TOKEN_REVIEWS, useFakeTokenReviewApi } from './fake-token-review.ts';
import { ID, OTHER_ID, remoteCode, TRUST_DOMAIN, useCa } from './helpers.ts';

describe('CA: Kubernetes service-account token attestation (k8s-sat)', () => {
  const { newHome, startCa, clients } = useCa();
  const { api, kubeconfig } = useFakeTokenReviewApi();

  it('issues the SVID of the token service account through a TokenReview, and refuses every doubtful token', async () => {
    const ca = await startCa(newHome(), { WARDEN_CA_KUBECONFIG: kubeconfig() });
    try {
      const c = await clients();
      const sign = async (spiffeId: string, token: string) =>
        c.agent.request(caSign, {
          csrPem: await createCsr(await generateKeyPair(), spiffeId),
          evidence: { type: 'k8s-sat', token },
        });
      const apiToken = api.mint({ namespace: 'payments', serviceAccount: 'api', audiences: [TRUST_DOMAIN] });

      const reply = await sign(ID, apiToken);
      assert.equal(reply.spiffeId, ID);
      const bundle = await c.agent.request(caBundle, {});
      assert.equal(
        verifyChain({ chain: reply.chainPem, roots: bundle.rootsPem, trustDomain: TRUST_DOMAIN }).spiffeId
          .uri,
        ID,
      );
      // The CA asked for its default audience, the trust domain.
      const asked = api.requests.at(-1)?.body as { spec: { audiences: string[] } };
      assert.deepEqual(asked.spec.audiences, [TRUST_DOMAIN]);
      // Not single-use: the same token renews the same identity (as long as Kubernetes keeps it valid).
      assert.equal((await sign(ID, apiToken)).spiffeId, ID);

      const reviews = api.requests.length;
      // The token's service account is payments/api; a CSR for payments/worker does not match it.
      await assert.rejects(sign(OTHER_ID, apiToken), remoteCode('identity_mismatch'));
      // A token Kubernetes does not know, one minted for the API server's audience, and garbage.
      await assert.rejects(
        sign(ID, api.mint({ namespace: 'x', serviceAccount: 'y', audiences: [] })),
        remoteCode('token_rejected'),
      );
      const forApiServer = api.mint({
        namespace: 'payments',
        serviceAccount: 'api',
        audiences: ['https://kubernetes.default.svc.cluster.local'],
      });
      await assert.rejects(sign(ID, forApiServer), remoteCode('token_rejected'));
      await assert.rejects(sign(ID, 'not-a-jwt'), remoteCode('token_rejected'));
      assert.equal(api.requests.length, reviews + 3, 'garbage never reaches the API server');
      // The API server refuses the CA itself: fail closed.
      api.forbid();
      try {
        await assert.rejects(sign(ID, apiToken), remoteCode('reviewer_unavailable'));
      } finally {
        api.forbid(false);
      }
      assert.ok(api.requests.every((r) => r.path === TOKEN_REVIEWS && r.authorization === 'Bearer recorded'));
    } finally {
      await ca.stop('test');
    }
  });

  it('asks for the configured audiences', async () => {
    const ca = await startCa(newHome(), {
      WARDEN_CA_KUBECONFIG: kubeconfig(),
      WARDEN_CA_K8S_AUDIENCES: 'warden-ca,istio-ca',
    });
    try {
      const c = await clients();
      const sign = async (token: string) =>
        c.agent.request(caSign, {
          csrPem: await createCsr(await generateKeyPair(), ID),
          evidence: { type: 'k8s-sat', token },
        });
      const istio = api.mint({ namespace: 'payments', serviceAccount: 'api', audiences: ['istio-ca'] });
      assert.equal((await sign(istio)).spiffeId, ID);
      const trustDomainOnly = api.mint({
        namespace: 'payments',
        serviceAccount: 'api',
        audiences: [TRUST_DOMAIN],
      });
      await assert.rejects(sign(trustDomainOnly), remoteCode('token_rejected'));
    } finally {
      await ca.stop('test');
    }
  });

  it('refuses k8s-sat when no Kubernetes API is configured, and refuses to start on a bad configuration', async () => {
    const home = newHome();
    const ca = await startCa(home);
    try {
      const c = await clients();
      const token = api.mint({ namespace: 'payments', serviceAccount: 'api', audiences: [TRUST_DOMAIN] });
      const reviews = api.requests.length;
      await assert.rejects(
        c.agent.request(caSign, {
          csrPem: await createCsr(await generateKeyPair(), ID),
          evidence: { type: 'k8s-sat', token },
        }),
        remoteCode('attestor_unavailable'),
      );
      assert.equal(api.requests.length, reviews);
    } finally {
      await ca.stop('test');
    }
    await assert.rejects(
      startCa(home, { WARDEN_CA_KUBECONFIG: join(tempDir('ca-kube'), 'missing') }),
      (err) => err instanceof ConfigError && /WARDEN_CA_KUBECONFIG/.test(err.problems.join()),
    );
    await assert.rejects(
      startCa(home, { WARDEN_CA_K8S_AUDIENCES: 'warden-ca' }),
      (err) => err instanceof ConfigError && /WARDEN_CA_K8S_AUDIENCES/.test(err.problems.join()),
    );
  });
});
