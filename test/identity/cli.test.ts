import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '@warden/cli';
import { caSign } from '@warden/events';
import { seedFile } from '@warden/infra';
import { certificatePem, createCsr, createRootCertificate, generateKeyPair, KeyAlgorithm } from '@warden/pki';
import { tempDir, useNats, useRedis } from '@warden/testing';
import { caDir, caEnv, clients, eventually, ID, newKek, provisionAll, startCa } from './helpers.ts';

describe('warden token, ca and cert commands against the CA', () => {
  const nats = useNats();
  const redis = useRedis();

  const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      io: { out: (t) => (out += t), err: (t) => (err += t) },
      env: { WARDEN_NATS_URL: nats.get().url, WARDEN_NKEY: seedFile(nats.get().credsDir, 'user') },
    });
    return { code, out, err };
  };

  it('creates a join token that enrols once, inspects the SVID, and revokes it', async () => {
    await provisionAll(nats.get());
    const ca = await startCa(caEnv(nats.get(), redis.get(), caDir(), newKek()));
    try {
      const token = await cli('token', 'create', ID, '--ttl', '5m');
      assert.equal(token.code, 0, token.err);
      assert.match(token.err, new RegExp(`for ${ID}, single use, expires `));

      const c = await clients(nats.get());
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
      const stranger = await createRootCertificate({
        trustDomain: 'elsewhere.example',
        keys: await generateKeyPair(KeyAlgorithm.ecdsaP256),
        notAfter: new Date(Date.now() + 3_600_000),
      });
      writeFileSync(otherRoot, certificatePem(stranger));
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
