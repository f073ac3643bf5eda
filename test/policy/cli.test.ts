import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { captureOutput, cliEnv, useNats } from '@warden/testing';
import type { CapturedOutput } from '@warden/testing';
import { startPolicy } from './helpers.ts';

const testdata = join(import.meta.dirname, 'testdata');

describe('warden apply and warden policy, against the policy service', () => {
  const nats = useNats();

  const cli = (...argv: string[]): Promise<CapturedOutput> =>
    captureOutput((io) => runCli(argv, { io, env: cliEnv(nats.get()) }));

  it('applies a folder, shows, tests, rolls back, and reports a rejected file with its position', async () => {
    const service = await startPolicy(nats.get());
    try {
      const applied = await cli(
        'apply',
        '-f',
        join(testdata, 'apply'),
        '--entrypoint',
        'warden/header/allow',
      );
      assert.equal(applied.code, 0, applied.err);
      assert.deepEqual(
        applied.out
          .trim()
          .split('\n')
          .map((l) => l.replace(/^.*\//, '')),
        [
          '10-allow-get.yaml: committed revision 1: authorization-policy.shop.allow-get',
          '20-deny-admin.yaml: committed revision 2: authorization-policy.shop.deny-admin',
          '30-mesh-defaults.yaml: committed revision 3: mesh-defaults.mesh.default',
          '40-header.rego: committed revision 4: rego.mesh.warden-header',
        ],
      );

      const rejected = await cli('apply', '-f', join(testdata, 'unknown-field.yaml'));
      assert.equal(rejected.code, 1);
      assert.match(rejected.err, /^unknown-field\.yaml:8:\d+: .*rulez/m);

      const get = await cli('policy', 'get', '-o', 'json');
      const status = JSON.parse(get.out) as { revision: number; policies: { key: string }[] };
      assert.equal(status.revision, 4);
      assert.equal(status.policies.length, 4);

      const denied = await cli('policy', 'test', '-f', join(testdata, 'admin-request.yaml'));
      assert.equal(denied.code, 3);
      assert.match(denied.out, /^DENY by ns\[shop\]-policy\[deny-admin\]-rule\[0\] at revision 4/);
      const atOne = await cli(
        'policy',
        'test',
        '-f',
        join(testdata, 'admin-request.yaml'),
        '--revision',
        '1',
      );
      assert.equal(atOne.code, 0);
      assert.match(atOne.out, /^ALLOW by ns\[shop\]-policy\[allow-get\]-rule\[0\] at revision 1/);

      const back = await cli('policy', 'rollback', '1');
      assert.equal(back.code, 0, back.err);
      assert.match(back.out, /committed revision 5/);
      const history = await cli('policy', 'history');
      assert.match(history.out, /^5 \*\s+\S+\s+rollback to 1\s+1$/m);
      assert.equal((await cli('policy', 'test', '-f', join(testdata, 'admin-request.yaml'))).code, 0);
    } finally {
      await service.stop('test');
    }
  });

  it('says so when the policy service does not answer', async () => {
    const result = await cli('apply', '-f', join(testdata, 'apply', '10-allow-get.yaml'), '--timeout', '0.5');
    assert.equal(result.code, 1);
    assert.match(
      result.err,
      /no stream stores it yet \(WARDEN_POLICY\); is the service that provisions it running\?/,
    );
  });
});
