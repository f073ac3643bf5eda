import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CrlSigner, crlSigner, inspectCertificate, KeyAlgorithm, parseCrls, verifyChain } from '@warden/pki';
import { crlBlocks, testLeaf, testTrustDomain } from './trust-domain.ts';

const ID = 'spiffe://example.org/ns/a/sa/b';

describe('test trust domain', () => {
  it('issues leaves that verify against its bundle, in its trust domain only', async () => {
    const td = await testTrustDomain('example.org');
    const leaf = await td.leaf(ID);
    assert.equal(leaf.chainPem[1], td.intermediatePem);
    const verified = verifyChain({
      chain: leaf.chainPem,
      roots: td.bundle.rootsPem,
      trustDomain: 'example.org',
    });
    assert.equal(verified.spiffeId.uri, ID);
    assert.deepEqual(td.bundle, { trustDomain: 'example.org', sequence: 1, rootsPem: [td.rootPem] });
    const other = await testTrustDomain('example.org');
    assert.throws(() => verifyChain({ chain: leaf.chainPem, roots: other.rootPem }));
  });

  it('takes the algorithm, validity and name constraints of its CAs and leaves', async () => {
    const notAfter = new Date(Math.ceil(Date.now() / 1000) * 1000 + 86_400_000);
    const td = await testTrustDomain('example.org', {
      algorithm: KeyAlgorithm.rsa2048,
      nameConstraints: true,
      notAfter,
    });
    assert.equal(td.intermediate.certificate.notAfter.getTime(), notAfter.getTime());
    assert.equal(td.root.privateKey.algorithm.name, 'RSASSA-PKCS1-v1_5');
    assert.ok(td.intermediate.certificate.extensions.some((e) => e.type === '2.5.29.30'));
    const expired = await td.leaf(ID, { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) });
    assert.ok(inspectCertificate(expired.chainPem[0] ?? '').notAfter < new Date());
    const rsa = await testLeaf(td.root, ID, { algorithm: KeyAlgorithm.rsa2048 });
    assert.equal(rsa.keys.publicKey.algorithm.name, 'RSASSA-PKCS1-v1_5');
    assert.equal(rsa.chainPem[1], td.rootPem);
  });

  it("serves the root's CRL, then the intermediate's listing the serials", async () => {
    const td = await testTrustDomain();
    const text = await td.crls({ serials: ['0abc'] });
    const [rootCrl, interCrl] = parseCrls(text, 'CRL file', { maxBytes: 1 << 20, maxBlocks: 4 });
    assert.ok(rootCrl && interCrl);
    assert.equal(await crlSigner(rootCrl, [td.rootPem]), CrlSigner.signed);
    assert.equal(await crlSigner(interCrl, [td.intermediatePem]), CrlSigner.signed);
    assert.deepEqual([rootCrl.serials, interCrl.serials], [new Set(), new Set(['abc'])]);
    assert.deepEqual(crlBlocks(text), [rootCrl.pem, interCrl.pem]);
  });
});
