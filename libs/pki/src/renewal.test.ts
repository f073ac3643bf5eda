import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { certificatePem, createRootCertificate, issueLeafCertificate } from './cert.ts';
import { createCsr, verifyCsr } from './csr.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import { RenewalProofError, renewalProof, verifyRenewalProof } from './renewal.ts';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

describe('renewal proof of possession', () => {
  for (const algorithm of [KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]) {
    it(`verifies with the current SVID key and refuses anything else (${algorithm})`, async () => {
      const caKeys = await generateKeyPair();
      const root = await createRootCertificate({
        trustDomain: 'cluster.local',
        keys: caKeys,
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const current = await generateKeyPair(algorithm);
      const currentCsr = await verifyCsr(await createCsr(current, ID));
      const svid = await issueLeafCertificate({
        spiffeId: ID,
        publicKey: currentCsr.spki,
        issuer: { certificate: root, privateKey: caKeys.privateKey },
        ttlSeconds: 60,
      });
      const publicKey = new X509Certificate(certificatePem(svid)).publicKey;
      const next = await verifyCsr(await createCsr(await generateKeyPair(), ID));
      const proof = await renewalProof(next.der, current.privateKey);
      verifyRenewalProof(next.der, proof, publicKey);

      // Over another CSR, by another key, or not base64 at all: refused.
      const other = await verifyCsr(await createCsr(await generateKeyPair(), ID));
      assert.throws(() => verifyRenewalProof(other.der, proof, publicKey), RenewalProofError);
      const stranger = await renewalProof(next.der, (await generateKeyPair(algorithm)).privateKey);
      assert.throws(() => verifyRenewalProof(next.der, stranger, publicKey), RenewalProofError);
      assert.throws(() => verifyRenewalProof(next.der, '!!', publicKey), RenewalProofError);
      assert.throws(() => verifyRenewalProof(next.der, 'A'.repeat(2000), publicKey), RenewalProofError);
    });
  }
});
