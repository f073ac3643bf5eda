import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestTrustDomain as TestAuthority } from '@warden/testing';
import { testTrustDomain as testAuthority } from '@warden/testing';
import { BadIssuanceError } from './errors.ts';
import { Store } from './store.ts';
import { checkSvid } from './svid.ts';

const id = 'spiffe://cluster.local/ns/shop/sa/web';

describe('SVID checks and the disk cache', () => {
  let ca: TestAuthority;
  let other: TestAuthority;
  const dir = mkdtempSync(join(tmpdir(), 'warden-agent-store-'));
  before(async () => {
    ca = await testAuthority();
    other = await testAuthority();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a matching key and chain, and refuses another identity, key, trust chain or an expired one', async () => {
    const good = await ca.leaf(id);
    const svid = checkSvid({ spiffeId: id, ...good, bundle: ca.bundle, obtainedAt: new Date() });
    assert.equal(svid.spiffeId, id);
    const otherLeaf = await ca.leaf(id);
    const refusals = [
      { spiffeId: 'spiffe://cluster.local/ns/shop/sa/api', ...good, bundle: ca.bundle },
      { spiffeId: id, keyPem: otherLeaf.keyPem, chainPem: good.chainPem, bundle: ca.bundle },
      { spiffeId: id, ...good, bundle: other.bundle },
      { spiffeId: id, keyPem: 'garbage', chainPem: good.chainPem, bundle: ca.bundle },
      { spiffeId: id, keyPem: good.keyPem, chainPem: ['garbage'], bundle: ca.bundle },
      {
        spiffeId: id,
        ...(await ca.leaf(id, { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) })),
        bundle: ca.bundle,
      },
    ];
    for (const r of refusals)
      assert.throws(() => checkSvid({ ...r, obtainedAt: new Date() }), BadIssuanceError);
  });

  it('round-trips an SVID through a 0600 file and deletes a cache entry it cannot trust', async () => {
    const store = new Store(dir);
    const leaf = await ca.leaf(id);
    const svid = checkSvid({ spiffeId: id, ...leaf, bundle: ca.bundle, obtainedAt: new Date() });
    await store.saveSvid(svid);
    const [file] = readdirSync(join(dir, 'svids'));
    assert.ok(file);
    assert.equal(statSync(join(dir, 'svids', file)).mode & 0o777, 0o600);
    const loaded = await store.loadSvid(id, ca.bundle);
    assert.equal(loaded?.serial, svid.serial);
    assert.equal(loaded?.obtainedAt.getTime(), svid.obtainedAt.getTime());

    // Against another trust domain's bundle the cached chain does not verify: refused and deleted.
    assert.equal(await store.loadSvid(id, other.bundle), null);
    assert.deepEqual(readdirSync(join(dir, 'svids')), []);

    await store.saveSvid(svid);
    writeFileSync(join(dir, 'svids', file), '{"version":1,"spiffeId":');
    await assert.rejects(store.loadSvid(id, ca.bundle));
    writeFileSync(
      join(dir, 'svids', file),
      JSON.stringify({ version: 1, spiffeId: id, keyPem: 'x', chainPem: ['y'], obtainedAt: 'z' }),
    );
    assert.equal(await store.loadSvid(id, ca.bundle), null);
    writeFileSync(join(dir, 'svids', file), 'x'.repeat(300 * 1024));
    await assert.rejects(store.loadSvid(id, ca.bundle));
    assert.equal(await store.loadSvid('spiffe://cluster.local/ns/none/sa/none', ca.bundle), null);
  });

  it('keeps the bundle and event entries', async () => {
    const store = new Store(dir);
    assert.equal(await store.loadBundle(), null);
    await store.saveBundle(ca.bundle);
    assert.deepEqual(await store.loadBundle(), ca.bundle);
    assert.deepEqual(await store.loadEventEntries(), []);
    const entry = {
      spiffeId: id,
      name: 'shop.web',
      dir: join(dir, 'workloads', 'shop.web'),
      keyAlgorithm: 'ecdsa-p256' as const,
      joinToken: 'wjt_x',
      selectors: {},
      source: 'event' as const,
    };
    await store.saveEventEntries([entry]);
    assert.deepEqual(await store.loadEventEntries(), [entry]);
  });
});
