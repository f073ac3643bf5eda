import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Bus, enforceRevoke, identityRevoked, RemoteError } from '@warden/events';
import {
  certificatePem,
  createCsr,
  createIntermediateCertificate,
  createRootCertificate,
  generateKeyPair,
  issueLeafCertificate,
  verifyCsr,
} from '@warden/pki';
import { useNats, useRedis } from '@warden/testing';
import type { Svid } from './helpers.ts';
import {
  caDir,
  caEnv,
  clients,
  enrol,
  eventually,
  ID,
  newKek,
  OTHER_ID,
  provisionAll,
  renew,
  startCa,
} from './helpers.ts';

const remoteCode = (code: string) => (err: unknown) => {
  assert.ok(err instanceof RemoteError, `expected a RemoteError, got ${String(err)}`);
  assert.equal(err.remoteCode, code, err.message);
  return true;
};

describe('CA: renewal by the current SVID, and revocation', () => {
  const nats = useNats();
  const redis = useRedis();
  // The operator creates every stream first, as the local stack does.
  beforeEach(() => provisionAll(nats.get()));

  it('renews with proof of possession of the current SVID key, and refuses without it', async () => {
    const ca = await startCa(caEnv(nats.get(), redis.get(), caDir(), newKek()));
    try {
      const c = await clients(nats.get());
      const svid = await enrol(c);
      const renewed = await renew(c, svid);
      assert.equal(renewed.spiffeId, ID);
      assert.notEqual(renewed.serial, svid.serial);

      // The chain is public: without the matching private key it proves nothing.
      const stranger = (await generateKeyPair()).privateKey;
      await assert.rejects(renew(c, svid, { proofKey: stranger }), remoteCode('proof_invalid'));
      // A valid SVID cannot renew into another identity.
      await assert.rejects(renew(c, svid, { spiffeId: OTHER_ID }), remoteCode('identity_mismatch'));

      // An SVID from another CA, even one claiming this trust domain, does not verify.
      const rogueRootKeys = await generateKeyPair();
      const rogueRoot = await createRootCertificate({
        trustDomain: 'cluster.local',
        keys: rogueRootKeys,
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const rogueInterKeys = await generateKeyPair();
      const rogueInter = await createIntermediateCertificate({
        trustDomain: 'cluster.local',
        keys: rogueInterKeys,
        issuer: { certificate: rogueRoot, privateKey: rogueRootKeys.privateKey },
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const keys = await generateKeyPair();
      const csr = await verifyCsr(await createCsr(keys, ID));
      const rogueLeaf = await issueLeafCertificate({
        spiffeId: ID,
        publicKey: csr.spki,
        issuer: { certificate: rogueInter, privateKey: rogueInterKeys.privateKey },
        ttlSeconds: 3600,
      });
      const rogue: Svid = {
        ...svid,
        keys,
        chainPem: [certificatePem(rogueLeaf), certificatePem(rogueInter)],
      };
      await assert.rejects(renew(c, rogue), remoteCode('chain_invalid'));
    } finally {
      await ca.stop('test');
    }
  });

  it('revokes by SPIFFE ID and by serial: the event is published and renewal is refused', async () => {
    const ca = await startCa(caEnv(nats.get(), redis.get(), caDir(), newKek()));
    try {
      const c = await clients(nats.get());
      const first = await enrol(c);
      const second = await enrol(c);
      const other = await enrol(c, OTHER_ID);
      const seen: { serials: string[]; spiffeId?: string }[] = [];
      const watcher = new Bus(await nats.get().connect('enforcer'), { source: 'test-enforcer' });
      const consumer = await watcher.consume(
        identityRevoked,
        (event) => {
          seen.push(event.data);
        },
        { durable: 'test-enforcer', deliver: 'all' },
      );

      await c.user.publish(enforceRevoke, { principal: ID, reason: 'compromised' });
      await eventually(async () => seen.length === 1, 10_000, 'identity.revoked by SPIFFE ID');
      assert.equal(seen[0]?.spiffeId, ID);
      assert.deepEqual([...(seen[0]?.serials ?? [])].sort(), [first.serial, second.serial].sort());
      await assert.rejects(renew(c, first), remoteCode('svid_revoked'));
      await assert.rejects(renew(c, second), remoteCode('svid_revoked'));

      await c.user.publish(enforceRevoke, { serial: other.serial.toUpperCase(), reason: 'decommissioned' });
      await eventually(async () => seen.length === 2, 10_000, 'identity.revoked by serial');
      assert.deepEqual(seen[1], { serials: [other.serial], spiffeId: OTHER_ID, reason: 'decommissioned' });
      await assert.rejects(renew(c, other), remoteCode('svid_revoked'));
      await consumer.stop();
    } finally {
      await ca.stop('test');
    }
  });
});
