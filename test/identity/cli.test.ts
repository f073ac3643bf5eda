import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { caSign } from '@warden/events';
import { createCsr, generateKeyPair, KeyAlgorithm } from '@warden/pki';
import { captureOutput, cliEnv, tempDir, testTrustDomain } from '@warden/testing';
import type { CapturedOutput } from '@warden/testing';
import { eventually, ID, useCa } from './helpers.ts';

describe('warden token, ca and cert commands against the CA', () => {
  const { nats, startCa, clients } = useCa();
  const cli = (...argv: string[]): Promise<CapturedOutput> =>
    captureOutput((io) => runCli(argv, { io, env: cliEnv(nats.get()) }));

  it('creates a join token that enrols once, inspects the SVID, and revokes it', async () => {
    const ca = await startCa();
    try {
      const token = await cli('token', 'create', ID, '--ttl', '5m');
      assert.equal(token.code, 0, token.err);
      assert.match(token.err, new RegExp(`for ${ID}, single use, expires `));

      const c = await clients();
      const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
      const svid = await c.agent.request(caSign, {
        csrPem: await createCsr(keys, ID),
        evidence: { type: 'join-token', token: token.out.trim() },
      });
      const dir = tempDir('cli-cert');
      const chainFile = join(dir, 'chain.pem');
      writeFileSync(chainFile, svid.chainPem.join(''));

      const status = await cli('ca', 'status');
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, /^trust domain cluster\.local, bundle sequence \d+/);

      const inspected = await cli('cert', 'inspect', chainFile);
      assert.equal(inspected.code, 0, inspected.err);
      assert.match(inspected.out, new RegExp(`^\\[0\\] ${ID}$`, 'm'));
      assert.match(inspected.out, /^chain: OK/m);

      // Another trust domain's root: the chain does not end there.
      const otherRoot = join(dir, 'other-root.pem');
      writeFileSync(otherRoot, (await testTrustDomain('elsewhere.example')).rootPem);
      const wrongBundle = await cli('cert', 'inspect', chainFile, '--bundle', otherRoot);
      assert.equal(wrongBundle.code, 1);
      assert.match(wrongBundle.out, /^chain: INVALID \(/m);

      const noReason = await cli('ca', 'revoke', ID);
      assert.equal(noReason.code, 2);
      const admin = await nats.get().connect('admin');
      const revokedSerials: string[] = [];
      admin.subscribe('warden.identity.v1.revoked', {
        callback: (_err, msg) => {
          revokedSerials.push(...(msg.json<{ data: { serials: string[] } }>().data.serials ?? []));
        },
      });
      await admin.flush();
      const revoked = await cli('ca', 'revoke', ID, '--reason', 'key leaked in a test');
      assert.equal(revoked.code, 0, revoked.err);
      await eventually(async () => revokedSerials.includes(svid.serial), 10_000, 'the revocation event');
    } finally {
      await ca.stop('test');
    }
  });
});
