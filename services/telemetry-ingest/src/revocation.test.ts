import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { testTrustDomain } from '@warden/testing';
import { RevokedSerials } from './revocation.ts';

describe('RevokedSerials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-revoked-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const logged: string[] = [];
  const log = {
    info: (_: object, msg: string) => logged.push(msg),
    warn: (_: object, msg: string) => logged.push(msg),
  };

  it('says at start that nothing is revoked without crl.pem, then reads one when it appears', async () => {
    const td = await testTrustDomain();
    const file = join(dir, 'a.pem');
    const revoked = new RevokedSerials(file, log);
    revoked.load();
    assert.match(logged.at(-1) ?? '', /no crl\.pem/);
    writeFileSync(file, await td.crls({ serials: ['00AB12'] }));
    assert.equal(revoked.refresh(), true);
    // Node writes serials in upper case, sometimes with leading zeros; the CRL's are normalised.
    assert.equal(revoked.has('AB12'), true);
    assert.equal(revoked.has('00ab12'), true);
    assert.equal(revoked.has('AB13'), false);
    assert.equal(revoked.refresh(), false, 'unchanged');
  });

  it('refuses to start on a malformed file, and later keeps the last good CRLs', async () => {
    const td = await testTrustDomain();
    const file = join(dir, 'b.pem');
    writeFileSync(file, 'not a CRL');
    assert.throws(() => new RevokedSerials(file, log).load(), /b\.pem/);
    writeFileSync(file, await td.crls({ serials: ['01'] }));
    const revoked = new RevokedSerials(file, log);
    revoked.load();
    writeFileSync(file, '-----BEGIN X509 CRL-----\nbroken\n-----END X509 CRL-----\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(revoked.refresh(), false);
    assert.match(logged.at(-1) ?? '', /unreadable; keeping the last CRLs/);
    assert.equal(revoked.has('01'), true);
    unlinkSync(file);
    revoked.refresh();
    assert.match(logged.at(-1) ?? '', /removed; keeping the last CRLs/);
    assert.equal(revoked.has('01'), true);
  });
});
