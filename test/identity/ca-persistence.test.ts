import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Files, KmsError, localKms, sealContext } from '@warden/ca';
import type { SealedBox } from '@warden/ca';
import { caBundle, enforceRevoke } from '@warden/events';
import { freePort, httpOk, repoRoot, startProcess } from '@warden/infra';
import type { Clients, Svid } from './helpers.ts';
import { enrol, eventually, newKek, OTHER_ID, renew, TRUST_DOMAIN, useCa } from './helpers.ts';

/** Renewal succeeds only if the CA still has its keys (chain verifies) and its index (serial known). */
const renews = (c: Clients, svid: Svid): Promise<boolean> =>
  renew(c, svid).then(
    () => true,
    () => false,
  );

describe('CA: keys and index survive restarts; keys are sealed', () => {
  const { redis, newHome, startCa, clients } = useCa();

  it('keeps its trust domain and index across a graceful restart', async () => {
    const home = newHome();
    const first = await startCa(home);
    const c = await clients();
    const bundle = await c.agent.request(caBundle, {});
    const svid = await enrol(c);
    await first.stop('test');

    const second = await startCa(home);
    try {
      const c2 = await clients();
      assert.deepEqual(await c2.agent.request(caBundle, {}), bundle);
      assert.ok(await renews(c2, svid), 'the SVID issued before the restart renews after it');
    } finally {
      await second.stop('test');
    }
  });

  it('survives kill -9 of the CA process with neither keys nor index lost', async () => {
    const home = newHome();
    const port = await freePort();
    const env = { ...process.env, ...home.env, WARDEN_HTTP_PORT: String(port) };
    const spawnCa = () =>
      startProcess({
        name: 'ca',
        command: process.execPath,
        args: [join(repoRoot, 'services', 'ca', 'src', 'main.ts')],
        logFile: join(home.dir, 'ca.log'),
        env,
        ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
      });
    let ca = await spawnCa();
    try {
      const c = await clients();
      const bundle = await c.agent.request(caBundle, {});
      const svid = await enrol(c);
      await ca.kill();
      assert.equal(await ca.exited, 'SIGKILL');

      ca = await spawnCa();
      const c2 = await clients();
      assert.deepEqual((await c2.agent.request(caBundle, {})).rootsPem, bundle.rootsPem);
      assert.ok(await renews(c2, svid), 'the SVID issued before the crash renews after it');
    } finally {
      await ca.stop();
    }
  });

  it('rebuilds the index from the identity stream when Redis loses it, keeping revocations', async () => {
    const ca = await startCa();
    try {
      const c = await clients();
      const svid = await enrol(c);
      const revoked = await enrol(c, OTHER_ID);
      await c.user.publish(enforceRevoke, { serial: revoked.serial, reason: 'test' });
      await eventually(async () => !(await renews(c, revoked)), 10_000, 'the revocation');
      assert.equal(await redis.get().command(['FLUSHALL']), '+OK');
      // Until the rebuild completes a renewal fails closed; afterwards the SVID is known again.
      await eventually(() => renews(c, svid), 10_000, 'the index to be rebuilt');
      assert.match(await redis.get().command(['EXISTS', 'warden:ca:index:complete']), /^:1/);
      assert.equal(await renews(c, revoked), false, 'a revoked SVID stays revoked after the rebuild');
    } finally {
      await ca.stop('test');
    }
  });

  it('stores keys only sealed: the files are useless without the key-encryption key', async () => {
    const home = newHome();
    const { dir, kek } = home;
    const ca = await startCa(home);
    await ca.stop('test');

    for (const [file, which] of [
      [Files.rootKey, 'root'],
      [Files.intermediateKey, 'intermediate'],
    ] as const) {
      const text = readFileSync(join(dir, file), 'utf8');
      assert.doesNotMatch(text, /PRIVATE KEY/);
      const box = JSON.parse(text) as SealedBox;
      const context = sealContext(TRUST_DOMAIN, which);

      // Another KEK: refused, whether or not the box names the right key id.
      const other = localKms(Buffer.from(newKek(), 'base64'));
      await assert.rejects(
        other.open(box, context),
        (err: unknown) => err instanceof KmsError && err.code === 'wrong_kek',
      );
      await assert.rejects(
        other.open({ ...box, kid: other.keyId }, context),
        (err: unknown) => err instanceof KmsError && err.code === 'unseal_failed',
      );
      // The right KEK opens it, but only in its own context (a root file cannot pose as the intermediate).
      const right = localKms(Buffer.from(kek, 'base64'));
      const pkcs8 = await right.open(box, context);
      assert.equal(pkcs8[0], 0x30);
      await assert.rejects(
        right.open(box, sealContext(TRUST_DOMAIN, which === 'root' ? 'intermediate' : 'root')),
        KmsError,
      );
    }

    // And the CA itself will not start with another KEK.
    await assert.rejects(startCa(home, { WARDEN_CA_KEK: newKek() }), (err: unknown) => {
      assert.ok(err instanceof KmsError, String(err));
      assert.equal(err.code, 'wrong_kek');
      return true;
    });
  });
});
