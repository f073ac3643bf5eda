import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError } from '@warden/runtime';
import { caConfig, resolveSettings } from './config.ts';

const base = {
  WARDEN_CA_DIR: '/var/lib/warden-ca',
  WARDEN_REDIS_URL: 'redis://127.0.0.1:6379',
  WARDEN_CA_KEK: randomBytes(32).toString('base64'),
};
const parse = (env: Record<string, string>) => caConfig.parse({ ...base, ...env });
const problems = (env: Record<string, string>) => {
  try {
    resolveSettings(parse(env));
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
};

describe('CA configuration: Kubernetes service-account attestation', () => {
  it('is off unless a kubeconfig or in-cluster credentials are configured', () => {
    assert.equal(resolveSettings(parse({})).kubernetes, undefined);
    assert.equal(resolveSettings(parse({ WARDEN_CA_K8S_IN_CLUSTER: 'false' })).kubernetes, undefined);
  });

  it('takes one source, with the trust domain as the default audience', () => {
    assert.deepEqual(resolveSettings(parse({ WARDEN_CA_KUBECONFIG: '/etc/kube/config' })).kubernetes, {
      source: { kubeconfig: '/etc/kube/config' },
      audiences: ['cluster.local'],
    });
    assert.deepEqual(
      resolveSettings(
        parse({
          WARDEN_CA_K8S_IN_CLUSTER: 'true',
          WARDEN_TRUST_DOMAIN: 'prod.example',
          WARDEN_CA_K8S_AUDIENCES: ' warden-ca , istio-ca',
        }),
      ).kubernetes,
      { source: { inCluster: true }, audiences: ['warden-ca', 'istio-ca'] },
    );
  });

  it('names the variables of a bad combination, together with other problems', () => {
    const both = problems({ WARDEN_CA_KUBECONFIG: '/k', WARDEN_CA_K8S_IN_CLUSTER: 'true' });
    assert.match(both.join('\n'), /WARDEN_CA_KUBECONFIG \/ WARDEN_CA_K8S_IN_CLUSTER: set one, not both/);
    const orphan = problems({ WARDEN_CA_K8S_AUDIENCES: 'warden-ca', WARDEN_CA_KEK_FILE: '/kek' });
    assert.equal(orphan.length, 2, orphan.join('\n'));
    assert.match(orphan.join('\n'), /WARDEN_CA_K8S_AUDIENCES: has no effect without/);
  });

  it('refuses malformed values in the schema', () => {
    for (const env of [
      { WARDEN_CA_K8S_IN_CLUSTER: 'yes' },
      { WARDEN_CA_K8S_AUDIENCES: '' },
      { WARDEN_CA_K8S_AUDIENCES: 'a,,b' },
      { WARDEN_CA_K8S_AUDIENCES: 'has space' },
      { WARDEN_CA_K8S_AUDIENCES: Array.from({ length: 17 }, (_, i) => `a${i}`).join(',') },
      { WARDEN_CA_KUBECONFIG: '' },
    ]) {
      const result = caConfig.safeParse({ ...base, ...env });
      assert.equal(result.success, false, JSON.stringify(env));
      assert.equal(String(result.error?.issues[0]?.path[0]), Object.keys(env)[0]);
    }
  });
});
