import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { testTrustDomain } from '@warden/testing';
import { certificatePem } from './cert.ts';
import { createCsr, verifyCsr } from './csr.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import { RenewalProofError, renewalProof, verifyRenewalProof } from './renewal.ts';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

describe('renewal proof of possession', () => {
  for (const algorithm of [KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]) {
    it(`verifies with the current SVID key and refuses anything else (${algorithm})`, async () => {
      const svid = await (await testTrustDomain()).leaf(ID, { algorithm, ttlSeconds: 60 });
      const current = svid.keys;
      const publicKey = new X509Certificate(certificatePem(svid.certificate)).publicKey;
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
