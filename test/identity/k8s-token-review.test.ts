import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApiTokenReviewer, loadKubeConfig, ReviewerUnavailableError } from '@warden/ca';
import { ConfigError } from '@warden/runtime';
import { tempDir } from '@warden/testing';
import { FakeTokenReviewApi, TOKEN_REVIEWS, useFakeTokenReviewApi } from './fake-token-review.ts';

describe('ApiTokenReviewer (recorded TokenReview replies over HTTP)', () => {
  const { api, kubeconfig } = useFakeTokenReviewApi();

  it('posts the token and audiences with the kubeconfig credentials and reads the status', async () => {
    const reviewer = new ApiTokenReviewer(loadKubeConfig({ kubeconfig: kubeconfig() }));
    const token = api.mint({ namespace: 'payments', serviceAccount: 'api', audiences: ['cluster.local'] });
    const result = await reviewer.review(token, ['cluster.local', 'warden-ca']);
    assert.deepEqual(result, {
      authenticated: true,
      username: 'system:serviceaccount:payments:api',
      uid: '5c6e2f1a-8d3b-4f0e-9a7c-2b1d4e6f8a90',
      audiences: ['cluster.local'],
    });
    const request = api.requests.at(-1);
    assert.equal(request?.method, 'POST');
    assert.equal(request?.path, TOKEN_REVIEWS);
    assert.equal(request?.authorization, 'Bearer recorded');
    assert.deepEqual(request?.body, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: ['cluster.local', 'warden-ca'] },
    });

    // Refusals are answers, not errors: an unknown token, and one minted for another audience.
    const unknown = await reviewer.review(api.mint({ namespace: 'a', serviceAccount: 'b', audiences: [] }), [
      'cluster.local',
    ]);
    assert.equal(unknown.authenticated, false);
    assert.match(unknown.error ?? '', /invalid bearer token/);
    const other = api.mint({
      namespace: 'payments',
      serviceAccount: 'api',
      audiences: ['https://kubernetes.default.svc'],
    });
    const wrongAudience = await reviewer.review(other, ['cluster.local']);
    assert.equal(wrongAudience.authenticated, false);
    assert.match(wrongAudience.error ?? '', /invalid for the target audiences/);
  });

  it('throws ReviewerUnavailableError, without the token, when no answer can be had', async () => {
    const token = api.mint({ namespace: 'payments', serviceAccount: 'api', audiences: ['cluster.local'] });
    const noToken = (err: unknown) => {
      assert.ok(err instanceof ReviewerUnavailableError, String(err));
      assert.ok(!err.message.includes(token), err.message);
      return true;
    };
    api.forbid();
    try {
      await assert.rejects(
        new ApiTokenReviewer(loadKubeConfig({ kubeconfig: kubeconfig() })).review(token, ['x']),
        (err) => {
          noToken(err);
          assert.match((err as Error).message, /HTTP 403: tokenreviews.authentication.k8s.io is forbidden/);
          return true;
        },
      );
    } finally {
      api.forbid(false);
    }
    api.stall();
    try {
      const impatient = new ApiTokenReviewer(loadKubeConfig({ kubeconfig: kubeconfig() }), {
        timeoutMs: 200,
      });
      await assert.rejects(impatient.review(token, ['x']), (err) => {
        noToken(err);
        assert.match((err as Error).message, /did not answer within 200 ms/);
        return true;
      });
    } finally {
      api.stall(false);
    }
    const closed = new FakeTokenReviewApi();
    const nowhere = await closed.start();
    await closed.stop();
    await assert.rejects(
      new ApiTokenReviewer(loadKubeConfig({ kubeconfig: nowhere })).review(token, ['x']),
      noToken,
    );
  });

  it('reports an unusable configuration as a configuration error naming the variable', () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfig: join(tempDir('ca-kube'), 'missing') }),
      (err) => err instanceof ConfigError && /WARDEN_CA_KUBECONFIG/.test(err.problems.join()),
    );
    const saved = process.env['KUBERNETES_SERVICE_HOST'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      assert.throws(
        () => loadKubeConfig({ inCluster: true }),
        (err) => err instanceof ConfigError && /WARDEN_CA_K8S_IN_CLUSTER/.test(err.problems.join()),
      );
    } finally {
      if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
    }
  });
});
