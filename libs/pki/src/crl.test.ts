import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { testTrustDomain } from '@warden/testing';
import { newSerial } from './cert.ts';
import { createCrl, crlNumberOf, CrlSigner, crlSigner, parseCrls } from './crl.ts';
import { InputTooLargeError, MalformedInputError } from './errors.ts';
import { normaliseSerial } from './inspect.ts';
import { X509Crl } from './x509.ts';

const limits = { maxBytes: 1024 * 1024, maxBlocks: 4 };
const hour = (n: number): Date => new Date(Date.now() + n * 3_600_000);

describe('CRL', () => {
  it('lists the revoked serials and verifies with the issuer key', async () => {
    const { root } = await testTrustDomain();
    const serials = [newSerial(), newSerial()];
    const { der, pem } = await createCrl({
      issuer: root,
      entries: serials.map((serial) => ({ serial, revokedAt: new Date() })),
      nextUpdate: new Date(Date.now() + 3600_000),
    });
    assert.match(pem, /^-----BEGIN X509 CRL-----/);
    const crl = new X509Crl(der);
    assert.deepEqual(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort(), [...serials].sort());
    assert.ok(await crl.verify({ publicKey: root.certificate.publicKey }));
  });

  it('carries its CRL number, checked against openssl', async () => {
    const { root } = await testTrustDomain();
    for (const number of [1, 127, 128, 255, 65_536, 2 ** 40 + 3]) {
      const { der, pem } = await createCrl({ issuer: root, entries: [], nextUpdate: hour(1), number });
      assert.equal(crlNumberOf(der), number);
      const text = execFileSync('openssl', ['crl', '-noout', '-crlnumber'], { input: pem, encoding: 'utf8' });
      assert.equal(BigInt(`0x${text.trim().replace(/^crlNumber=(0x)?/, '')}`), BigInt(number));
    }
    const { der } = await createCrl({ issuer: root, entries: [], nextUpdate: hour(1) });
    assert.equal(crlNumberOf(der), undefined);
    await assert.rejects(
      createCrl({ issuer: root, entries: [], nextUpdate: hour(1), number: -1 }),
      RangeError,
    );
  });

  it('parses every CRL of a chain file with its dates and normalised serials', async () => {
    const { root } = await testTrustDomain();
    const serial = `00${newSerial().toUpperCase()}`;
    // Whole seconds: a CRL carries no milliseconds.
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + 7_200_000);
    const first = await createCrl({ issuer: root, entries: [], thisUpdate, nextUpdate: hour(1) });
    const second = await createCrl({
      issuer: root,
      entries: [{ serial, revokedAt: new Date() }],
      thisUpdate,
      nextUpdate,
    });
    const parsed = parseCrls(first.pem + second.pem, 'CRL file', limits);
    assert.equal(parsed.length, 2);
    assert.equal(parsed[0]?.pem, first.pem);
    assert.deepEqual(parsed[0]?.serials, new Set());
    assert.deepEqual(parsed[1]?.serials, new Set([normaliseSerial(serial)]));
    assert.deepEqual(parsed[1]?.thisUpdate, thisUpdate);
    assert.deepEqual(parsed[1]?.nextUpdate, nextUpdate);
  });

  it('refuses anything that is not PEM CRLs within the limits', async () => {
    const { root, rootPem } = await testTrustDomain();
    const { pem } = await createCrl({ issuer: root, entries: [], nextUpdate: hour(1) });
    const malformed = (text: string) => () => parseCrls(text, 'CRL file', limits);
    assert.throws(malformed(''), MalformedInputError);
    assert.throws(malformed('<html>not found</html>'), MalformedInputError);
    assert.throws(malformed(rootPem), MalformedInputError, 'a certificate is not a CRL');
    assert.throws(malformed(pem.replace(/^(-+BEGIN X509 CRL-+\n)MI/, '$1QI')), MalformedInputError);
    assert.throws(malformed(pem.repeat(5)), MalformedInputError, 'more blocks than allowed');
    assert.throws(() => parseCrls(pem, 'CRL file', { maxBytes: 64, maxBlocks: 4 }), InputTooLargeError);
  });

  it('tells a CRL signed by a given certificate from a forged one and from an unknown issuer', async () => {
    const { root, rootPem, intermediate, intermediatePem } = await testTrustDomain();
    const [rootCrl, interCrl] = parseCrls(
      (await createCrl({ issuer: root, entries: [], nextUpdate: hour(1) })).pem +
        (await createCrl({ issuer: intermediate, entries: [], nextUpdate: hour(1) })).pem,
      'CRL file',
      limits,
    );
    assert.ok(rootCrl && interCrl);
    assert.equal(await crlSigner(rootCrl, [rootPem]), CrlSigner.signed);
    assert.equal(await crlSigner(interCrl, [rootPem]), CrlSigner.unknownIssuer);
    assert.equal(await crlSigner(interCrl, [rootPem, intermediatePem]), CrlSigner.signed);
    // Another root with the same name (same trust domain, another key) did not sign it.
    const impostor = (await testTrustDomain()).rootPem;
    assert.equal(await crlSigner(rootCrl, [impostor]), CrlSigner.badSignature);
    assert.equal(await crlSigner(rootCrl, [impostor, rootPem]), CrlSigner.signed);
  });
});
