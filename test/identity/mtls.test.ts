import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Files, localKms, sealContext } from '@warden/ca';
import type { SealedBox } from '@warden/ca';
import { caBundle, enforceRevoke } from '@warden/events';
import { freePort } from '@warden/infra';
import {
  ChainProblem,
  ChainVerificationError,
  importPrivateKey,
  KeyAlgorithm,
  loadCertificate,
  normaliseSerial,
  verifyChain,
  X509Crl,
} from '@warden/pki';
import { crlBlocks, testLeaf, testTrustDomain } from '@warden/testing';
import type { CaHome } from './helpers.ts';
import { enrol, eventually, ID, OTHER_ID, TRUST_DOMAIN, useCa } from './helpers.ts';
import type { Identity } from './tls-handshake.ts';
import { handshake, identityOf } from './tls-handshake.ts';

describe('mTLS with issued SVIDs', () => {
  const { newHome, startCa, clients } = useCa();

  it('completes TLS 1.3 mTLS, each side seeing the other SPIFFE ID; refuses foreign and expired certificates', async () => {
    const home = newHome();
    const ca = await startCa(home);
    try {
      const c = await clients();
      const roots = (await c.agent.request(caBundle, {})).rootsPem.join('');
      const serverSvid = await enrol(c, ID);
      const clientSvid = await enrol(c, OTHER_ID, KeyAlgorithm.rsa2048);
      const server = identityOf(serverSvid);
      const client = identityOf(clientSvid);

      const ok = await handshake(server, client, roots, ID);
      assert.deepEqual(ok, { clientSaw: ID, serverSaw: OTHER_ID });

      // A client certificate from another trust domain's CA.
      const otherDomain = await testTrustDomain('other.example');
      const foreign = identityOf(await otherDomain.leaf('spiffe://other.example/ns/payments/sa/worker'));
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
      const expired = await expiredIdentity(home, OTHER_ID);
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
  const { newHome, startCa, clients } = useCa();

  it('serves the bundle and a CRL with which a TLS server refuses a revoked certificate', async () => {
    const port = await freePort();
    const ca = await startCa(newHome(), { WARDEN_CA_HTTP_PORT: String(port) });
    try {
      const base = `http://127.0.0.1:${port}`;
      const c = await clients();
      const bundle = await c.agent.request(caBundle, {});
      const roots = bundle.rootsPem.join('');
      assert.equal(await (await fetch(`${base}/v1/bundle.pem`)).text(), roots);
      assert.deepEqual(await (await fetch(`${base}/v1/bundle.json`)).json(), bundle);
      assert.equal((await fetch(`${base}/v1/nothing`)).status, 404);
      assert.equal((await fetch(`${base}/v1/bundle.pem`, { method: 'POST', body: 'x' })).status, 405);

      const server = await enrol(c, ID);
      const revoked = await enrol(c, OTHER_ID);
      const kept = await enrol(c, 'spiffe://cluster.local/ns/payments/sa/kept');
      await c.user.publish(enforceRevoke, { serial: revoked.serial, reason: 'test' });

      let crl: string[] = [];
      await eventually(
        async () => {
          const pem = await (await fetch(`${base}/v1/crl.pem`)).text();
          // node:tls takes one CRL per array element.
          crl = crlBlocks(pem);
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

      const refused = await handshake(identityOf(server), identityOf(revoked), roots, ID, crl);
      assert.equal(refused.serverSaw, null);
      assert.equal(refused.clientSaw, null);
      const accepted = await handshake(identityOf(server), identityOf(kept), roots, ID, crl);
      assert.equal(accepted.serverSaw, 'spiffe://cluster.local/ns/payments/sa/kept');
    } finally {
      await ca.stop('test');
    }
  });
});

/** An expired certificate signed by this CA's own intermediate, its key opened with the KEK. */
async function expiredIdentity(home: CaHome, spiffeId: string): Promise<Identity> {
  const box = JSON.parse(readFileSync(join(home.dir, Files.intermediateKey), 'utf8')) as SealedBox;
  const kms = localKms(Buffer.from(home.kek, 'base64'));
  const der = await kms.open(box, sealContext(TRUST_DOMAIN, 'intermediate'));
  const issuer = {
    certificate: loadCertificate(readFileSync(join(home.dir, Files.intermediateCert), 'utf8')),
    privateKey: await importPrivateKey(der, KeyAlgorithm.ecdsaP256),
  };
  return identityOf(
    await testLeaf(issuer, spiffeId, { ttlSeconds: 60, now: new Date(Date.now() - 2 * 86_400_000) }),
  );
}
