import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRootCertificate, newSerial } from './cert.ts';
import { createCrl } from './crl.ts';
import { generateKeyPair } from './keys.ts';
import { X509Crl } from './x509.ts';

describe('CRL', () => {
  it('lists the revoked serials and verifies with the issuer key', async () => {
    const keys = await generateKeyPair();
    const certificate = await createRootCertificate({
      trustDomain: 'cluster.local',
      keys,
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const serials = [newSerial(), newSerial()];
    const { der, pem } = await createCrl({
      issuer: { certificate, privateKey: keys.privateKey },
      entries: serials.map((serial) => ({ serial, revokedAt: new Date() })),
      nextUpdate: new Date(Date.now() + 3600_000),
    });
    assert.match(pem, /^-----BEGIN X509 CRL-----/);
    const crl = new X509Crl(der);
    assert.deepEqual(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort(), [...serials].sort());
    assert.ok(await crl.verify({ publicKey: certificate.publicKey }));
  });
});
