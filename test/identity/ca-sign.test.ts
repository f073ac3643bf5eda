import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { caBundle, caSign, caToken, InvalidPayloadError, newEnvelope, StreamName } from '@warden/events';
import {
  createCsr,
  decodePem,
  generateKeyPair,
  inspectCertificate,
  Pkcs10CertificateRequestGenerator,
  toPem,
  verifyChain,
} from '@warden/pki';
import { CaError } from '@warden/ca';
import { ConfigError } from '@warden/runtime';
import { createToken, enrol, ID, OTHER_ID, remoteCode, TRUST_DOMAIN, useCa } from './helpers.ts';

describe('CA: signing with join tokens', () => {
  const { nats, redis, newHome, startCa, clients } = useCa();

  async function issuedCount(): Promise<number> {
    const admin = await nats.get().connect('admin');
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(StreamName.identity, {
      subjects_filter: 'warden.identity.v1.issued',
    });
    await admin.close();
    return info.state.subjects?.['warden.identity.v1.issued'] ?? 0;
  }

  it('issues an SVID for a join token once, verifiable against the bundle and carrying the SPIFFE ID', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
      const token = await createToken(c);
      assert.match(token, /^wjt_[A-Za-z0-9_-]{43}$/);
      const keys = await generateKeyPair();
      const reply = await c.agent.request(caSign, {
        csrPem: await createCsr(keys, ID),
        evidence: { type: 'join-token', token },
      });
      assert.equal(reply.spiffeId, ID);
      assert.equal(reply.chainPem.length, 2);
      const bundle = await c.agent.request(caBundle, {});
      assert.equal(bundle.trustDomain, TRUST_DOMAIN);
      const verified = verifyChain({
        chain: reply.chainPem,
        roots: bundle.rootsPem,
        trustDomain: TRUST_DOMAIN,
      });
      assert.equal(verified.spiffeId.uri, ID);
      assert.equal(verified.leaf.serial, reply.serial);
      // TTL 24 h by default.
      const lifetime = inspectCertificate(reply.chainPem[0] ?? '').notAfter.getTime() - Date.now();
      assert.ok(lifetime > 23.9 * 3600_000 && lifetime <= 24 * 3600_000, `lifetime ${lifetime}`);

      // The same token again, even with a fresh CSR: refused, and no second SVID.
      const reuseRefused = async (code: string): Promise<void> => {
        await assert.rejects(
          c.agent.request(caSign, {
            csrPem: await createCsr(await generateKeyPair(), ID),
            evidence: { type: 'join-token', token },
          }),
          remoteCode(code),
        );
        assert.equal(await issuedCount(), 1);
      };
      await reuseRefused('token_used');
      // Nor once someone with Redis access deletes the "used" marker: the record on the bus wins.
      const hash = createHash('sha256').update(token).digest('hex');
      assert.equal(await redis.get().command(['DEL', `warden:ca:token-used:${hash}`]), ':1');
      await reuseRefused('token_used');
      // Nor after Redis loses everything: the token itself is gone with it.
      assert.equal(await redis.get().command(['FLUSHALL']), '+OK');
      await reuseRefused('token_invalid');

      // A TTL within the maximum is honoured.
      const short = await c.agent.request(caSign, {
        csrPem: await createCsr(await generateKeyPair(), ID),
        evidence: { type: 'join-token', token: await createToken(c) },
        ttlSeconds: 600,
      });
      assert.ok(Date.parse(short.notAfter) - Date.now() <= 600_000);
    } finally {
      await ca.stop('test');
    }
  });

  it('gives bad requests clear errors and changes nothing', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
      const token = await createToken(c);
      const sign = (csrPem: string, t = token, ttlSeconds?: number) =>
        c.agent.request(caSign, {
          csrPem,
          evidence: { type: 'join-token', token: t },
          ...(ttlSeconds ? { ttlSeconds } : {}),
        });

      // A CSR for another SPIFFE ID than the token's.
      await assert.rejects(
        sign(await createCsr(await generateKeyPair(), OTHER_ID)),
        remoteCode('identity_mismatch'),
      );

      // A CSR whose signature does not verify.
      const good = await createCsr(await generateKeyPair(), ID);
      const [der] = decodePem(good, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: 16_384, maxBlocks: 1 });
      assert.ok(der);
      der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
      await assert.rejects(sign(toPem('CERTIFICATE REQUEST', der)), remoteCode('csr_bad_signature'));

      // An RSA-1024 key.
      const weak = await crypto.subtle.generateKey(
        {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        },
        true,
        ['sign', 'verify'],
      );
      const weakCsr = await Pkcs10CertificateRequestGenerator.create({
        name: 'CN=weak',
        keys: weak,
        signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      });
      await assert.rejects(
        sign(toPem('CERTIFICATE REQUEST', weakCsr.rawData)),
        remoteCode('unsupported_key'),
      );

      // Garbage that fits the schema, and 1 MB of garbage that does not: the typed client refuses
      // to send the latter, and a raw client sending it anyway gets invalid_payload.
      await assert.rejects(
        sign(toPem('CERTIFICATE REQUEST', randomBytes(8000))),
        remoteCode('malformed_input'),
      );
      const huge = toPem('CERTIFICATE REQUEST', randomBytes(700_000));
      assert.ok(huge.length > 900_000);
      await assert.rejects(sign(huge), InvalidPayloadError);
      const raw = newEnvelope(caSign.subject, 'raw-client', {
        csrPem: huge,
        evidence: { type: 'join-token', token },
      });
      const answer = await c.agentNc.request(caSign.subject, JSON.stringify(raw), { timeout: 5000 });
      const parsed = JSON.parse(new TextDecoder().decode(answer.data)) as {
        ok: boolean;
        error: { code: string };
      };
      assert.deepEqual([parsed.ok, parsed.error.code], [false, 'invalid_payload']);

      // A TTL over the maximum, an unknown token, an expired one, evidence no attestor handles.
      await assert.rejects(sign(good, token, 30 * 86_400), remoteCode('ttl_too_long'));
      await assert.rejects(sign(good, 'wjt_not-a-real-token'), remoteCode('token_invalid'));
      const expiring = (await c.user.request(caToken, { spiffeId: ID, ttlSeconds: 1 })).token;
      await sleep(1100);
      await assert.rejects(
        sign(await createCsr(await generateKeyPair(), ID), expiring),
        remoteCode('token_expired'),
      );
      await assert.rejects(
        c.agent.request(caSign, { csrPem: good, evidence: { type: 'k8s-sat', token: 'x' } }),
        remoteCode('attestor_unavailable'),
      );

      // Nothing was issued, and the token survived every refusal: it still works, once.
      assert.equal(await issuedCount(), 0);
      const reply = await sign(await createCsr(await generateKeyPair(), ID));
      assert.equal(reply.spiffeId, ID);
      assert.equal(await issuedCount(), 1);
    } finally {
      await ca.stop('test');
    }
  });

  it('refuses token requests outside its trust domain or over the maximum TTL', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
      await assert.rejects(
        c.user.request(caToken, { spiffeId: 'spiffe://other.example/ns/a/sa/b' }),
        remoteCode('token_request'),
      );
      await assert.rejects(
        c.user.request(caToken, { spiffeId: `spiffe://${TRUST_DOMAIN}` }),
        remoteCode('token_request'),
      );
      await assert.rejects(
        c.user.request(caToken, { spiffeId: ID, ttlSeconds: 7 * 86_400 }),
        remoteCode('token_request'),
      );
      await assert.rejects(
        c.user.request(caToken, { spiffeId: 'spiffe://cluster.local/a//b' }),
        remoteCode('invalid_spiffe_id'),
      );
      // Agents get certificates; they do not mint tokens (nats-server refuses the publish).
      await assert.rejects(c.agent.request(caToken, { spiffeId: ID }, { timeoutMs: 1000 }));
      // Every SVID request afterwards still works.
      assert.equal((await enrol(c)).spiffeId, ID);
    } finally {
      await ca.stop('test');
    }
  });

  it('refuses to start without a usable key-encryption key or state directory, naming the setting', async () => {
    const home = newHome();
    const expectConfig = async (overrides: NodeJS.ProcessEnv, pattern: RegExp): Promise<void> => {
      await assert.rejects(startCa(home, overrides), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, pattern);
        return true;
      });
    };
    await expectConfig(
      { WARDEN_CA_KEK: undefined },
      /WARDEN_CA_KEK \/ WARDEN_CA_KEK_FILE: a key-encryption key is required/,
    );
    await expectConfig({ WARDEN_CA_KEK_FILE: '/tmp/kek' }, /set one, not both/);
    await expectConfig({ WARDEN_CA_KEK: 'c2hvcnQ=' }, /WARDEN_CA_KEK=.*32 random bytes/);
    await expectConfig({ WARDEN_CA_DIR: undefined }, /WARDEN_CA_DIR=\(unset\)/);
    await expectConfig({ WARDEN_REDIS_URL: 'http://x' }, /WARDEN_REDIS_URL/);
    await expectConfig({ WARDEN_TRUST_DOMAIN: 'Bad.Domain' }, /WARDEN_TRUST_DOMAIN/);
    await expectConfig({ WARDEN_CA_KEK: undefined, WARDEN_CA_KEK_FILE: '/nonexistent/kek' }, /cannot read/);
    // Redis down: the CA refuses to start (and leaves nothing running: this test would hang otherwise).
    await assert.rejects(
      startCa(home, { WARDEN_REDIS_URL: 'redis://:secret@127.0.0.1:1' }),
      (err: unknown) =>
        err instanceof CaError && err.code === 'redis_unavailable' && !err.message.includes('secret'),
    );
  });
});
