import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Files } from '@warden/ca';
import { runCli } from '@warden/cli';
import { caBundle, identityBundle } from '@warden/events';
import { freePort } from '@warden/infra';
import type { DataOf } from '@warden/events';
import { captureOutput, tempDir } from '@warden/testing';
import type { CapturedOutput } from '@warden/testing';
import type { Svid } from './helpers.ts';
import { enrol, eventually, ID, newKek, OTHER_ID, renew, useCa } from './helpers.ts';
import { handshake, identityOf } from './tls-handshake.ts';

type Bundle = DataOf<typeof identityBundle>;

/** `warden` as a person runs it on the CA host: the CA's folder and KEK in the environment. */
const cli = (env: NodeJS.ProcessEnv, ...argv: string[]): Promise<CapturedOutput> =>
  captureOutput((io) => runCli(argv, { io, env }));

const issuerOf = (svid: Svid): string => new X509Certificate(svid.chainPem[1] ?? '').subject;
const subjectsOf = (bundle: Bundle): string[] =>
  bundle.rootsPem.map((pem) => new X509Certificate(pem).subject);

describe('CA rotation: warden ca init|rotate, and the running CA follows', () => {
  const { newHome, startCa, clients } = useCa();

  it('rotates root and intermediate with no downtime: both roots are trusted until the old leaves expire', async () => {
    const home = newHome();
    const { dir, kek } = home;
    const admin = { WARDEN_CA_DIR: dir, WARDEN_CA_KEK: kek, WARDEN_CA_MAX_TTL_SECONDS: '8' };
    // Leaves live 8 s, so the old chain's last leaf expires 8 s after the new intermediate takes over.
    const httpPort = await freePort();
    const settings = {
      WARDEN_CA_DEFAULT_TTL_SECONDS: '8',
      WARDEN_CA_MAX_TTL_SECONDS: '8',
      WARDEN_CA_HTTP_PORT: String(httpPort),
    };
    const init = await cli(admin, 'ca', 'init');
    assert.equal(init.code, 0, init.err);
    assert.match(init.out, /^trust domain cluster\.local \(ecdsa-p256\)/);

    const ca = await startCa(home, settings);
    const c = await clients();
    const bundles: Bundle[] = [];
    const sub = c.agent.subscribe(identityBundle, (event) => {
      bundles.push(event.data);
    });
    try {
      const first = await c.agent.request(caBundle, {});
      assert.equal(first.sequence, 1);
      assert.equal(first.rootsPem.length, 1);
      const oldServer = await enrol(c, ID);
      const oldIntermediate = issuerOf(oldServer);

      const rotated = await cli(admin, 'ca', 'rotate', '--root', '--activate-in', '3s');
      assert.equal(rotated.code, 0, rotated.err);
      const activateAt = Date.parse(/signs from (\S+);/.exec(rotated.out)?.[1] ?? '');
      assert.match(rotated.out, /intermediate 2 under root 2 signs from/);

      // The new root is published at once, next to the old one, before any leaf chains to it.
      await eventually(
        async () => bundles.some((b) => b.rootsPem.length === 2),
        5000,
        'a bundle with both roots',
      );
      const both = bundles.find((b) => b.rootsPem.length === 2);
      assert.ok(both);
      assert.equal(both.sequence, 2);
      assert.deepEqual(subjectsOf(both)[0], subjectsOf(first)[0]);
      const roots = both.rootsPem.join('');
      // For peers that check CRLs: from the rotation on, crl.pem covers both generations.
      const crl = await (await fetch(`http://127.0.0.1:${httpPort}/v1/crl.pem`)).text();

      const early = await enrol(c, OTHER_ID);
      if (Date.now() < activateAt)
        assert.equal(issuerOf(early), oldIntermediate, 'the old intermediate signs until the activation');

      await eventually(
        async () => issuerOf(await enrol(c, OTHER_ID)) !== oldIntermediate,
        10_000,
        'activation',
      );
      const newClient = await enrol(c, OTHER_ID);
      assert.match(issuerOf(newClient), /G2/);
      assert.ok(Date.now() >= activateAt - 1000, 'not activated before its time');

      // An old-chain server and a new-chain client (and the reverse) authenticate each other.
      assert.deepEqual(await handshake(identityOf(oldServer), identityOf(newClient), roots, ID, [crl]), {
        clientSaw: ID,
        serverSaw: OTHER_ID,
      });
      const newServer = await enrol(c, ID);
      assert.deepEqual(await handshake(identityOf(newServer), identityOf(early), roots, ID), {
        clientSaw: ID,
        serverSaw: OTHER_ID,
      });
      // A workload still on the old chain renews onto the new one.
      const renewed = await renew(c, oldServer);
      assert.match(issuerOf(renewed), /G2/);

      // Eight seconds after the activation no old leaf is valid: the old root leaves the bundle.
      await eventually(
        async () => bundles.some((b) => b.sequence === 3),
        15_000,
        'the bundle without the old root',
      );
      const last = bundles.find((b) => b.sequence === 3);
      assert.ok(last);
      assert.equal(last.rootsPem.length, 1);
      assert.equal(subjectsOf(last)[0], subjectsOf(both)[1]);

      const status = await cli(admin, 'ca', 'status', '--dir', dir);
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, /^ {2}1 .* retired$/m);
      assert.match(status.out, /^ {2}2 .* active$/m);

      // The rotation is on disk: a restarted CA serves the same bundle.
      await ca.stop('test');
      const again = await startCa(home, settings);
      try {
        assert.deepEqual(await c.agent.request(caBundle, {}), last);
      } finally {
        await again.stop('test');
      }
    } finally {
      sub.unsubscribe();
      await c.userNc.close();
      await c.agentNc.close();
      await ca.stop('test');
    }
  });

  it('rotates the intermediate alone at once: the bundle does not change, old and new leaves verify', async () => {
    const home = newHome();
    const { dir, kek } = home;
    const ca = await startCa(home);
    const c = await clients();
    try {
      const before = await c.agent.request(caBundle, {});
      const old = await enrol(c, ID);
      const rotated = await cli(
        { WARDEN_CA_DIR: dir, WARDEN_CA_KEK: kek },
        'ca',
        'rotate',
        '--activate-in',
        '0s',
      );
      assert.equal(rotated.code, 0, rotated.err);
      assert.match(rotated.out, /intermediate 2 under root 1 signs from/);
      await eventually(
        async () => /G2/.test(issuerOf(await enrol(c, OTHER_ID))),
        5000,
        'the new intermediate',
      );
      const fresh = await enrol(c, OTHER_ID);
      assert.deepEqual(await c.agent.request(caBundle, {}), before);
      assert.deepEqual(await handshake(identityOf(old), identityOf(fresh), before.rootsPem.join(''), ID), {
        clientSaw: ID,
        serverSaw: OTHER_ID,
      });
    } finally {
      await c.userNc.close();
      await c.agentNc.close();
      await ca.stop('test');
    }
  });

  it('refuses bad operations with clear errors and changes nothing', async () => {
    const { dir, kek } = newHome();
    const admin = { WARDEN_CA_DIR: dir, WARDEN_CA_KEK: kek };
    assert.equal((await cli(admin, 'ca', 'init')).code, 0);
    const manifest = (): string => readFileSync(join(dir, Files.manifest), 'utf8');
    const before = manifest();

    const twice = await cli(admin, 'ca', 'init');
    assert.equal(twice.code, 1);
    assert.match(twice.err, /already holds a trust domain/);

    const noKek = await cli({ WARDEN_CA_DIR: dir }, 'ca', 'rotate');
    assert.equal(noKek.code, 1);
    assert.match(noKek.err, /WARDEN_CA_KEK \/ WARDEN_CA_KEK_FILE: a key-encryption key is required/);

    const wrongKek = await cli({ WARDEN_CA_DIR: dir, WARDEN_CA_KEK: newKek() }, 'ca', 'rotate');
    assert.equal(wrongKek.code, 1);
    assert.match(wrongKek.err, /sealed under key-encryption key \w+, but the configured one is \w+/);

    const kekFile = join(tempDir('kek'), 'kek');
    writeFileSync(kekFile, 'not a key', { mode: 0o600 });
    const badFile = await cli({ WARDEN_CA_DIR: dir }, 'ca', 'rotate', '--kek-file', kekFile);
    assert.equal(badFile.code, 1);
    assert.match(badFile.err, /WARDEN_CA_KEK_FILE/);

    const otherDomain = await cli({ ...admin, WARDEN_TRUST_DOMAIN: 'other.example' }, 'ca', 'rotate');
    assert.equal(otherDomain.code, 1);
    assert.match(
      otherDomain.err,
      /holds trust domain cluster\.local, but WARDEN_TRUST_DOMAIN is other\.example/,
    );

    const badDelay = await cli(admin, 'ca', 'rotate', '--activate-in', 'soon');
    assert.equal(badDelay.code, 2);
    assert.match(badDelay.err, /"soon" is not a duration/);
    assert.equal(manifest(), before, 'no refused command changed the manifest');

    const scheduled = await cli(admin, 'ca', 'rotate', '--activate-in', '1h');
    assert.equal(scheduled.code, 0, scheduled.err);
    const tooLate = await cli(admin, 'ca', 'rotate', '--activate-in', '90d');
    assert.equal(tooLate.code, 2);
    assert.match(tooLate.err, /--activate-in: at most 30d/);
    const pending = await cli(admin, 'ca', 'rotate');
    assert.equal(pending.code, 1);
    assert.match(pending.err, /intermediate 2 is scheduled to take over at .*; rotate again after that/);

    const missing = await cli({ WARDEN_CA_DIR: tempDir('empty-ca'), WARDEN_CA_KEK: kek }, 'ca', 'rotate');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /holds no trust domain: run `warden ca init`/);
  });

  it('keeps serving when a rotation leaves a manifest it cannot load', async () => {
    const home = newHome();
    const ca = await startCa(home);
    const c = await clients();
    try {
      const before = await c.agent.request(caBundle, {});
      writeFileSync(join(home.dir, Files.manifest), '{"version": 2, "trustDomain": "cluster.local"}');
      await eventually(
        async () =>
          /warden_ca_manifest_reloads_total\{outcome="failed",service="ca"\} 1/.test(
            await ca.ctx.registry.metrics(),
          ),
        5000,
        'the failed reload to be counted',
      );
      assert.deepEqual(await c.agent.request(caBundle, {}), before);
      const svid = await enrol(c, ID);
      assert.equal(svid.spiffeId, ID);
    } finally {
      await c.userNc.close();
      await c.agentNc.close();
      await ca.stop('test');
    }
  });
});
