import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCsr, verifyCsr as referenceVerifyCsr } from './csr.ts';
import {
  CsrIdentityError,
  CsrSignatureError,
  InputTooLargeError,
  MalformedInputError,
  UnsupportedKeyError,
} from './errors.ts';
import { verifyCsrFast } from './fast-csr.ts';
import { generateKeyPair, KeyAlgorithm } from './keys.ts';
import { decodePem, toPem } from './pem.ts';
import type { EcKeyGenParams, RsaHashedKeyGenParams } from './webcrypto.ts';
import { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } from './x509.ts';

const ID = 'spiffe://cluster.local/ns/payments/sa/api';

/** A CSR from any WebCrypto key pair (createCsr itself only signs with the keys Warden issues). */
async function rawCsr(
  params: EcKeyGenParams | RsaHashedKeyGenParams,
  signing: { name: string; hash?: string },
  uris: readonly string[] = [ID],
): Promise<string> {
  const keys = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: 'CN=test',
    keys,
    signingAlgorithm: signing,
    extensions: uris.length
      ? [new SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))]
      : [],
  });
  return toPem('CERTIFICATE REQUEST', csr.rawData);
}

// Every case runs against the reference (@peculiar/x509) and the CA's fast path alike.
for (const [name, verifyCsr] of [
  ['verifyCsr', referenceVerifyCsr],
  ['verifyCsrFast', verifyCsrFast],
] as const)
  describe(`CSR verification (${name})`, () => {
    it('accepts an ECDSA P-256 and an RSA-2048 CSR and reads the SPIFFE ID', async () => {
      for (const algorithm of [KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]) {
        const csr = await verifyCsr(await createCsr(await generateKeyPair(algorithm), ID));
        assert.equal(csr.spiffeId.uri, ID);
        assert.equal(csr.key.type, algorithm === KeyAlgorithm.ecdsaP256 ? 'ec' : 'rsa');
        assert.ok(csr.spki.length > 0 && csr.der.length > 0);
      }
    });

    it('accepts DER bytes as well as PEM', async () => {
      const pem = await createCsr(await generateKeyPair(), ID);
      const [der] = decodePem(pem, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: 16_384, maxBlocks: 1 });
      assert.ok(der);
      assert.equal((await verifyCsr(der)).spiffeId.uri, ID);
    });

    it('refuses a CSR whose signature does not verify', async () => {
      const pem = await createCsr(await generateKeyPair(), ID);
      const [der] = decodePem(pem, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: 16_384, maxBlocks: 1 });
      assert.ok(der);
      // The signature is the last BIT STRING: flipping a bit in its final byte breaks it, not the DER.
      der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
      await assert.rejects(verifyCsr(toPem('CERTIFICATE REQUEST', der)), CsrSignatureError);
    });

    it('refuses a CSR signed by another key than the one it carries', async () => {
      const a = await generateKeyPair();
      const b = await generateKeyPair();
      const csr = await Pkcs10CertificateRequestGenerator.create({
        name: 'CN=x',
        keys: { publicKey: a.publicKey, privateKey: b.privateKey },
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [new SubjectAlternativeNameExtension([{ type: 'url', value: ID }])],
      });
      await assert.rejects(verifyCsr(toPem('CERTIFICATE REQUEST', csr.rawData)), CsrSignatureError);
    });

    it('refuses RSA-1024, an unsupported curve and a SHA-1 signature', async () => {
      const rsa = (bits: number) => ({
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: bits,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      });
      await assert.rejects(
        verifyCsr(await rawCsr(rsa(1024), { name: 'RSASSA-PKCS1-v1_5' })),
        (err: unknown) => err instanceof UnsupportedKeyError && /1024 bits is too weak/.test(err.message),
      );
      await assert.rejects(
        verifyCsr(await rawCsr({ name: 'ECDSA', namedCurve: 'P-521' }, { name: 'ECDSA', hash: 'SHA-512' })),
        UnsupportedKeyError,
      );
      await assert.rejects(
        verifyCsr(await rawCsr({ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-1' })),
        CsrSignatureError,
      );
    });

    it('refuses RSA public exponents below 65537 or even', async () => {
      const rsa = (exponent: number[]) => ({
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array(exponent),
        hash: 'SHA-256',
      });
      await assert.rejects(
        verifyCsr(await rawCsr(rsa([3]), { name: 'RSASSA-PKCS1-v1_5' })),
        (err: unknown) => err instanceof UnsupportedKeyError && /exponent 3 is not allowed/.test(err.message),
      );
      // 2^16 + 3: odd and large enough.
      assert.equal(
        (await verifyCsr(await rawCsr(rsa([1, 0, 3]), { name: 'RSASSA-PKCS1-v1_5' }))).key.type,
        'rsa',
      );
    });

    it('refuses BER framing and trailing bytes: only the DER that was signed is read', async () => {
      const pem = await createCsr(await generateKeyPair(), ID);
      const [der] = decodePem(pem, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: 16_384, maxBlocks: 1 });
      assert.ok(der);
      await assert.rejects(
        verifyCsr(Buffer.concat([der, Buffer.from([0x00, 0x00])])),
        (err: unknown) =>
          err instanceof MalformedInputError && /not DER \(trailing bytes\)/.test(err.message),
      );
      // The same request with its outer length in long form (0x81 n instead of n, or 0x82 00 nn).
      const outer = der[1] ?? 0;
      const lengthOctets = outer < 0x80 ? 0 : outer & 0x7f;
      const content = der.subarray(2 + lengthOctets);
      const ber = Buffer.concat([
        Buffer.from([0x30, 0x83, 0x00, content.length >> 8, content.length & 0xff]),
        content,
      ]);
      await assert.rejects(
        verifyCsr(ber),
        (err: unknown) => err instanceof MalformedInputError && /not DER/.test(err.message),
      );
    });

    it('refuses oversized input before parsing it, and garbage with a clear error', async () => {
      const huge = toPem('CERTIFICATE REQUEST', randomBytes(1024 * 1024));
      await assert.rejects(
        verifyCsr(huge),
        (err: unknown) => err instanceof InputTooLargeError && err.limit === 16_384,
      );
      await assert.rejects(verifyCsr(randomBytes(20_000)), InputTooLargeError);
      await assert.rejects(verifyCsr(toPem('CERTIFICATE REQUEST', randomBytes(2000))), MalformedInputError);
      await assert.rejects(verifyCsr('not a pem at all'), MalformedInputError);
      await assert.rejects(verifyCsr(toPem('CERTIFICATE', randomBytes(100))), MalformedInputError);
      await assert.rejects(
        verifyCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n'),
        MalformedInputError,
      );
      await assert.rejects(verifyCsr(new Uint8Array()), MalformedInputError);
    });

    it('requires exactly one URI SAN that is a valid SPIFFE ID', async () => {
      const ec = { name: 'ECDSA', namedCurve: 'P-256' };
      const sig = { name: 'ECDSA', hash: 'SHA-256' };
      await assert.rejects(verifyCsr(await rawCsr(ec, sig, [])), CsrIdentityError);
      await assert.rejects(
        verifyCsr(await rawCsr(ec, sig, [ID, 'spiffe://cluster.local/ns/x/sa/y'])),
        CsrIdentityError,
      );
      await assert.rejects(verifyCsr(await rawCsr(ec, sig, ['spiffe://Cluster.local/a'])), CsrIdentityError);
      await assert.rejects(verifyCsr(await rawCsr(ec, sig, ['https://example.org/a'])), CsrIdentityError);
    });
  });
