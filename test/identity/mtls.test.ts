import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { Files, localKms, sealContext } from '@warden/ca';
import type { SealedBox } from '@warden/ca';
import { caBundle, enforceRevoke } from '@warden/events';
import { freePort } from '@warden/infra';
import {
  certificatePem,
  ChainProblem,
  ChainVerificationError,
  createCsr,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKey,
  issueLeafCertificate,
  KeyAlgorithm,
  loadCertificate,
  normaliseSerial,
  verifyChain,
  verifyCsr,
  X509Crl,
} from '@warden/pki';
import { useNats, useRedis } from '@warden/testing';
import {
  caDir,
  caEnv,
  clients,
  enrol,
  eventually,
  ID,
  newKek,
  OTHER_ID,
  startCa,
  TRUST_DOMAIN,
  provisionAll,
} from './helpers.ts';
import type { Identity } from './tls-handshake.ts';
import { handshake } from './tls-handshake.ts';

describe('mTLS with issued SVIDs', () => {
  const nats = useNats();
  const redis = useRedis();
  // The operator creates every stream first, as the local stack does.
  beforeEach(() => provisionAll(nats.get()));

  it('completes TLS 1.3 mTLS, each side seeing the other SPIFFE ID; refuses foreign and expired certificates', async () => {
    const dir = caDir();
    const kek = newKek();
    const ca = await startCa(caEnv(nats.get(), redis.get(), dir, kek));
    try {
      const c = await clients(nats.get());
      const roots = (await c.agent.request(caBundle, {})).rootsPem.join('');
      const serverSvid = await enrol(c, ID);
      const clientSvid = await enrol(c, OTHER_ID, KeyAlgorithm.rsa2048);
      const server = { key: serverSvid.keyPem, cert: serverSvid.chainPem.join('') };
      const client = { key: clientSvid.keyPem, cert: clientSvid.chainPem.join('') };

      const ok = await handshake(server, client, roots, ID);
      assert.deepEqual(ok, { clientSaw: ID, serverSaw: OTHER_ID });

      // A client certificate from another trust domain's CA.
      const foreign = await foreignIdentity('other.example', 'spiffe://other.example/ns/payments/sa/worker');
      const refusedForeign = await handshake(server, foreign, roots, ID);
      assert.equal(refusedForeign.serverSaw, null);
      assert.equal(refusedForeign.clientSaw, null);
      // node:tls drops the connection without naming the reason; the library says which rule failed.
      assert.throws(
        () => verifyChain({ chain: foreign.cert, roots, trustDomain: TRUST_DOMAIN }),
        (err: unknown) =>
          err instanceof ChainVerificationError && err.problem === ChainProblem.trustDomainMismatch,
      );

      // A server certificate from another trust domain: the client refuses it.
      const refusedServer = await handshake(foreign, client, roots, ID);
      assert.equal(refusedServer.clientSaw, null);
      assert.ok(refusedServer.clientError, 'the client reports the failure');

      // An expired certificate signed by this CA's own intermediate (opened here with the KEK).
      const expired = await expiredIdentity(dir, kek, OTHER_ID);
      const refusedExpired = await handshake(server, expired, roots, ID);
      assert.equal(refusedExpired.serverSaw, null);
      assert.equal(refusedExpired.clientSaw, null);
      assert.throws(
        () => verifyChain({ chain: expired.cert, roots, trustDomain: TRUST_DOMAIN }),
        (err: unknown) => err instanceof ChainVerificationError && err.problem === ChainProblem.expired,
      );
      // The same handshake with a fresh certificate for that identity succeeds: expiry was the reason.
      assert.equal((await handshake(server, client, roots, ID)).serverSaw, OTHER_ID);
    } finally {
      await ca.stop('test');
    }
  });
});

describe('bundle and CRL over HTTP', () => {
  const nats = useNats();
  const redis = useRedis();
  beforeEach(() => provisionAll(nats.get()));

  it('serves the bundle and a CRL with which a TLS server refuses a revoked certificate', async () => {
    const port = await freePort();
    const ca = await startCa({
      ...caEnv(nats.get(), redis.get(), caDir(), newKek()),
      WARDEN_CA_HTTP_PORT: String(port),
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      const c = await clients(nats.get());
      const bundle = await c.agent.request(caBundle, {});
      const roots = bundle.rootsPem.join('');
      assert.equal(await (await fetch(`${base}/v1/bundle.pem`)).text(), roots);
      assert.deepEqual(await (await fetch(`${base}/v1/bundle.json`)).json(), bundle);
      assert.equal((await fetch(`${base}/v1/nothing`)).status, 404);
      assert.equal((await fetch(`${base}/v1/bundle.pem`, { method: 'POST', body: 'x' })).status, 405);

      const server = await enrol(c, ID);
      const revoked = await enrol(c, OTHER_ID);
      const kept = await enrol(c, 'spiffe://cluster.local/ns/payments/sa/kept');
      const asIdentity = (s: typeof server): Identity => ({ key: s.keyPem, cert: s.chainPem.join('') });
      await c.user.publish(enforceRevoke, { serial: revoked.serial, reason: 'test' });

      let crl: string[] = [];
      await eventually(
        async () => {
          const pem = await (await fetch(`${base}/v1/crl.pem`)).text();
          // node:tls takes one CRL per array element.
          crl = pem.match(/-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----\n/g) ?? [];
          const lists = (crl: string | Buffer): boolean =>
            new X509Crl(crl).entries.some((e) => normaliseSerial(e.serialNumber) === revoked.serial);
          const der = Buffer.from(await (await fetch(`${base}/v1/crl`)).arrayBuffer());
          // Both forms, each fetched separately, must already list it.
          return lists(der) && crl.length === 2 && lists(crl[1] ?? '');
        },
        10_000,
        'the CRL to list the revoked serial',
      );
      assert.equal(crl.length, 2, 'the root CRL and the intermediate CRL');

      const refused = await handshake(asIdentity(server), asIdentity(revoked), roots, ID, crl);
      assert.equal(refused.serverSaw, null);
      assert.equal(refused.clientSaw, null);
      const accepted = await handshake(asIdentity(server), asIdentity(kept), roots, ID, crl);
      assert.equal(accepted.serverSaw, 'spiffe://cluster.local/ns/payments/sa/kept');
    } finally {
      await ca.stop('test');
    }
  });
});

async function foreignIdentity(trustDomain: string, spiffeId: string): Promise<Identity> {
  const rootKeys = await generateKeyPair();
  const root = await createRootCertificate({
    trustDomain,
    keys: rootKeys,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const interKeys = await generateKeyPair();
  const inter = await createIntermediateCertificate({
    trustDomain,
    keys: interKeys,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const keys = await generateKeyPair();
  const csr = await verifyCsr(await createCsr(keys, spiffeId));
  const leaf = await issueLeafCertificate({
    spiffeId,
    publicKey: csr.spki,
    issuer: { certificate: inter, privateKey: interKeys.privateKey },
    ttlSeconds: 3600,
  });
  return {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: certificatePem(leaf) + certificatePem(inter),
  };
}

async function expiredIdentity(dir: string, kek: string, spiffeId: string): Promise<Identity> {
  const box = JSON.parse(readFileSync(join(dir, Files.intermediateKey), 'utf8')) as SealedBox;
  const der = await localKms(Buffer.from(kek, 'base64')).open(box, sealContext(TRUST_DOMAIN, 'intermediate'));
  const intermediatePem = readFileSync(join(dir, Files.intermediateCert), 'utf8');
  const issuer = {
    certificate: loadCertificate(intermediatePem),
    privateKey: await importPrivateKey(der, KeyAlgorithm.ecdsaP256),
  };
  const keys = await generateKeyPair();
  const csr = await verifyCsr(await createCsr(keys, spiffeId));
  const leaf = await issueLeafCertificate({
    spiffeId,
    publicKey: csr.spki,
    issuer,
    ttlSeconds: 60,
    now: new Date(Date.now() - 2 * 86_400_000),
  });
  return { key: await exportPrivateKeyPem(keys.privateKey), cert: certificatePem(leaf) + intermediatePem };
}
