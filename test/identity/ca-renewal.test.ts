import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bus, enforceRevoke, identityRevoked } from '@warden/events';
import { generateKeyPair } from '@warden/pki';
import { testTrustDomain } from '@warden/testing';
import type { Svid } from './helpers.ts';
import { enrol, eventually, ID, OTHER_ID, remoteCode, renew, useCa } from './helpers.ts';

describe('CA: renewal by the current SVID, and revocation', () => {
  const { nats, startCa, clients } = useCa();

  it('renews with proof of possession of the current SVID key, and refuses without it', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
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
      const rogueLeaf = await (await testTrustDomain('cluster.local')).leaf(ID);
      const rogue: Svid = { ...svid, keys: rogueLeaf.keys, chainPem: rogueLeaf.chainPem };
      await assert.rejects(renew(c, rogue), remoteCode('chain_invalid'));
    } finally {
      await ca.stop('test');
    }
  });

  it('revokes by SPIFFE ID and by serial: the event is published and renewal is refused', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
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
