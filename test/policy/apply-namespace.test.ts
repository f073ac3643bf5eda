/**
 * `warden apply -n` against the real policy service (issue 11, deliverable 4): an
 * AuthorizationPolicy without `metadata.namespace` goes to the namespace of `-n`, `default` when
 * none is given (as kubectl); empty and comment-only documents and a trailing `---` are ignored.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { captureOutput, cliEnv, useNats } from '@warden/testing';
import type { CapturedOutput } from '@warden/testing';
import { startPolicy } from './helpers.ts';

const policy = (name: string, namespace?: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  selector: { matchLabels: { app: web } }
  rules:
  - from:
    - source:
        serviceAccounts: ["frontend"]
`;

describe('warden apply -n, against the policy service', () => {
  const nats = useNats();
  const dir = mkdtempSync(join(tmpdir(), 'warden-apply-namespace-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cli = (...argv: string[]): Promise<CapturedOutput> =>
    captureOutput((io) => runCli(argv, { io, env: cliEnv(nats.get()) }));

  it('puts policies without a namespace in -n (default: default) and skips empty documents', async () => {
    const service = await startPolicy(nats.get());
    try {
      const file = join(dir, 'web.yaml');
      writeFileSync(
        file,
        `# policies of the web workload\n---\n${policy('web-frontend')}---\n# nothing here\n---\n${policy('web-pinned', 'ops')}---\n`,
      );
      const applied = await cli('apply', '-f', file, '-n', 'shop');
      assert.equal(applied.code, 0, applied.err);
      assert.match(
        applied.out,
        /committed revision 1: authorization-policy\.shop\.web-frontend, authorization-policy\.ops\.web-pinned$/m,
      );

      const plain = join(dir, 'plain.yaml');
      writeFileSync(plain, policy('plain'));
      const byDefault = await cli('apply', '-f', plain);
      assert.equal(byDefault.code, 0, byDefault.err);
      assert.match(byDefault.out, /committed revision 2: authorization-policy\.default\.plain$/m);

      const get = await cli('policy', 'get', '-o', 'json');
      const keys = (JSON.parse(get.out) as { policies: { key: string }[] }).policies.map((p) => p.key).sort();
      assert.deepEqual(keys, [
        'authorization-policy.default.plain',
        'authorization-policy.ops.web-pinned',
        'authorization-policy.shop.web-frontend',
      ]);
    } finally {
      await service.stop('test');
    }
  });

  it('refuses a -n that is not a namespace name before submitting anything', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, policy('bad'));
    const result = await cli('apply', '-f', file, '-n', 'Not_A_Namespace');
    assert.equal(result.code, 2);
    assert.match(result.err, /is not a namespace name/);
  });
});
