import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubernetesError } from '../errors.ts';
import { loadKubeConfig } from './source.ts';

describe('kubernetes configuration', () => {
  it('refuses a missing or empty kubeconfig with a clear error', () => {
    assert.throws(() => loadKubeConfig('/nonexistent/kubeconfig'), KubernetesError);
    const file = join(mkdtempSync(join(tmpdir(), 'warden-kube-')), 'empty');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
    assert.throws(
      () => loadKubeConfig(file),
      (err: unknown) => err instanceof KubernetesError && /no current cluster/.test(err.message),
    );
  });

  it('loads a kubeconfig naming a cluster', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'warden-kube-')), 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]',
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
    );
    assert.equal(loadKubeConfig(file).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  });
});
