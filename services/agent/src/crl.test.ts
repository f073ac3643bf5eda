import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import { newSerial, normaliseSerial } from '@warden/pki';
import type { TestTrustDomain as TestAuthority } from '@warden/testing';
import { testTrustDomain as testAuthority } from '@warden/testing';
import { checkCrl, fetchCrlText } from './crl.ts';
import type { CrlTrust } from './crl.ts';
import { CrlError, CrlProblem } from './errors.ts';

const refusedWith = (code: CrlProblem) => (err: unknown) => err instanceof CrlError && err.code === code;
const seconds = (date: Date): Date => new Date(Math.floor(date.getTime() / 1000) * 1000);

async function serve(handler: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/crl.pem`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('CRL checks', () => {
  let ca: TestAuthority;
  let other: TestAuthority;
  let trust: CrlTrust;
  before(async () => {
    ca = await testAuthority();
    other = await testAuthority();
    trust = { trustDomain: 'cluster.local', roots: ca.bundle.rootsPem, intermediates: [ca.intermediatePem] };
  });

  it('accepts the CA file: every block, the revoked serials, the oldest thisUpdate and earliest nextUpdate', async () => {
    const serial = normaliseSerial(newSerial());
    const thisUpdate = seconds(new Date(Date.now() - 60_000));
    const nextUpdate = seconds(new Date(Date.now() + 3_600_000));
    const text = await ca.crls({ serials: [serial], thisUpdate, nextUpdate });
    const crl = await checkCrl(`\n${text.replaceAll('\n', '\r\n')}\n`, trust);
    assert.equal(crl.pem, text, 'the file holds the blocks re-encoded, nothing around them');
    assert.deepEqual(crl.serials, new Set([serial]));
    assert.deepEqual(crl.thisUpdate, thisUpdate);
    assert.deepEqual(crl.nextUpdate, nextUpdate);
    // An intermediate the agent holds no SVID from (a rotation's new one) is taken by its name
    // and left to the TLS stack, which has the chain.
    await checkCrl(text, { ...trust, intermediates: [] });
  });

  it('refuses what is not PEM CRLs', async () => {
    for (const text of ['', '<html>502 Bad Gateway</html>', ca.bundle.rootsPem.join('')])
      await assert.rejects(checkCrl(text, trust), refusedWith(CrlProblem.invalid));
  });

  it('refuses an expired CRL and one not valid yet, as OpenSSL would', async () => {
    const expired = await ca.crls({
      thisUpdate: new Date(Date.now() - 7_200_000),
      nextUpdate: new Date(Date.now() - 1000),
    });
    await assert.rejects(checkCrl(expired, trust), refusedWith(CrlProblem.notCurrent));
    const early = await ca.crls({ thisUpdate: new Date(Date.now() + 60_000) });
    await assert.rejects(checkCrl(early, trust), refusedWith(CrlProblem.notCurrent));
  });

  it("refuses another CA's CRLs, a forged one, and any before the agent has a bundle", async () => {
    await assert.rejects(checkCrl(await other.crls(), trust), refusedWith(CrlProblem.untrusted));
    // Only the intermediate's CRL, without the root's: not shown to come from this trust domain.
    const ours = await ca.crls();
    const intermediateOnly = ours.slice(ours.indexOf('-----BEGIN', 1));
    await assert.rejects(checkCrl(intermediateOnly, trust), refusedWith(CrlProblem.untrusted));
    // Our root's CRL with an intermediate CRL of the same name signed by another key.
    const theirs = await other.crls();
    const forged =
      ours.slice(0, ours.indexOf('-----BEGIN', 1)) + theirs.slice(theirs.indexOf('-----BEGIN', 1));
    await assert.rejects(checkCrl(forged, trust), refusedWith(CrlProblem.untrusted));
    await assert.rejects(checkCrl(ours, null), refusedWith(CrlProblem.untrusted));
  });

  it('refuses a CRL of an unknown issuer not named as the intermediates of this trust domain are', async () => {
    const ours = await ca.crls();
    const rootOnly = ours.slice(0, ours.indexOf('-----BEGIN', 1));
    const foreign = await (await testAuthority('evil.example')).crls();
    // Another trust domain's intermediate, then its root: neither known, neither named as ours.
    for (const block of [
      foreign.slice(foreign.indexOf('-----BEGIN', 1)),
      foreign.slice(0, foreign.indexOf('-----BEGIN', 1)),
    ])
      await assert.rejects(
        checkCrl(rootOnly + block, { ...trust, intermediates: [] }),
        refusedWith(CrlProblem.untrusted),
      );
    // Named as ours are, but in a file no root of the bundle signed anything in.
    const intermediateOnly = ours.slice(ours.indexOf('-----BEGIN', 1));
    await assert.rejects(
      checkCrl(intermediateOnly, { ...trust, intermediates: [] }),
      refusedWith(CrlProblem.untrusted),
    );
  });

  it('refuses a CRL older than the one held from its issuer, and a file with two CRLs of one issuer', async () => {
    const minutesAgo = (n: number): Date => seconds(new Date(Date.now() - n * 60_000));
    const first = (text: string): string => text.slice(0, text.indexOf('-----BEGIN', 1));
    const second = (text: string): string => text.slice(text.indexOf('-----BEGIN', 1));
    const held = await checkCrl(await ca.crls({ thisUpdate: minutesAgo(3) }), trust);
    // The same CRL served again, and a newer one, are taken.
    await checkCrl(await ca.crls({ thisUpdate: minutesAgo(3) }), trust, held);
    const fresh = await ca.crls({ thisUpdate: minutesAgo(1) });
    const newer = await checkCrl(fresh, trust, held);
    // A genuine CRL from before a revocation, replayed or cached, would un-revoke: refused, even
    // when only one issuer's CRL is old.
    const replayed = await ca.crls({ thisUpdate: minutesAgo(2) });
    await assert.rejects(checkCrl(replayed, trust, newer), refusedWith(CrlProblem.olderThanHeld));
    await assert.rejects(
      checkCrl(first(fresh) + second(replayed), trust, newer),
      refusedWith(CrlProblem.olderThanHeld),
    );
    // The old CRL beside the new one: a TLS stack may use either, so the file is refused.
    await assert.rejects(checkCrl(fresh + second(replayed), trust), refusedWith(CrlProblem.invalid));
    // Issuers are told apart by key too: another CA with the same names is not compared.
    const otherTrust = { ...trust, roots: other.bundle.rootsPem, intermediates: [other.intermediatePem] };
    const otherHeld = await checkCrl(await other.crls(), otherTrust);
    await checkCrl(replayed, trust, otherHeld);
  });
});

describe('CRL fetch', () => {
  it('returns the body of a 200 answer', async () => {
    const server = await serve((_req, res) => res.end('crl text'));
    try {
      assert.equal(await fetchCrlText(server.url, { timeoutMs: 2000 }), 'crl text');
    } finally {
      await server.close();
    }
  });

  it('refuses another status, a redirect, a body over the limit, a silent server and no server', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/missing') res.writeHead(404).end('not found');
      else if (req.url === '/moved') res.writeHead(302, { location: '/v1/crl.pem' }).end();
      else if (req.url === '/big') {
        // No content-length: the limit is enforced on what arrives.
        res.write('x'.repeat(1024));
        res.write('x'.repeat(1024));
        res.end();
      } else if (req.url === '/silent') res.write('');
      else res.end('ok');
    });
    const base = server.url.replace('/v1/crl.pem', '');
    try {
      const options = { timeoutMs: 500, maxBytes: 1500 };
      await assert.rejects(fetchCrlText(`${base}/missing`, options), refusedWith(CrlProblem.unavailable));
      await assert.rejects(fetchCrlText(`${base}/moved`, options), refusedWith(CrlProblem.unavailable));
      await assert.rejects(fetchCrlText(`${base}/big`, options), refusedWith(CrlProblem.invalid));
      await assert.rejects(fetchCrlText(`${base}/silent`, options), refusedWith(CrlProblem.unavailable));
    } finally {
      await server.close();
    }
    await assert.rejects(fetchCrlText(server.url, { timeoutMs: 500 }), refusedWith(CrlProblem.unavailable));
  });
});
