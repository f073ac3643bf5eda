import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { BucketName, enforceRevoke } from '@warden/events';
import { freePort, httpOk, repoRoot, startProcess } from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import { crlNumberOf, normaliseSerial, X509Crl } from '@warden/pki';
import type { CaHome } from './helpers.ts';
import { enrol, eventually, OTHER_ID, useCa } from './helpers.ts';

type Replica = { name: string; process: ServerProcess; http: string };

/** The active intermediate's CRL as one replica serves it, or null while it has none. */
async function crlOf(replica: Replica): Promise<{ number: number; serials: Set<string> } | null> {
  const res = await fetch(`${replica.http}/v1/crl`);
  if (res.status !== 200) return null;
  const der = Buffer.from(await res.arrayBuffer());
  return {
    number: crlNumberOf(der) ?? -1,
    serials: new Set(new X509Crl(der).entries.map((e) => normaliseSerial(e.serialNumber))),
  };
}

describe('CA replicas: one lease holder signs CRLs and revokes; a standby takes over', () => {
  const { nats, newHome, clients } = useCa();

  const spawn = async (home: CaHome, name: string): Promise<Replica> => {
    const ops = await freePort();
    const http = await freePort();
    const process_ = await startProcess({
      name,
      command: process.execPath,
      args: [join(repoRoot, 'services', 'ca', 'src', 'main.ts')],
      logFile: join(home.dir, `${name}.log`),
      env: {
        ...process.env,
        ...home.env,
        WARDEN_INSTANCE: name,
        WARDEN_HTTP_PORT: String(ops),
        WARDEN_CA_HTTP_PORT: String(http),
      },
      ready: () => httpOk(`http://127.0.0.1:${ops}/readyz`),
    });
    return { name, process: process_, http: `http://127.0.0.1:${http}` };
  };

  const holder = async (): Promise<string | null> => {
    const nc = await nats.get().connect('admin');
    try {
      const entry = await (await new Kvm(nc).open(BucketName.caLease)).get('issuer');
      return entry?.operation === 'PUT' ? entry.string() : null;
    } finally {
      await nc.close();
    }
  };

  it('both replicas serve the holder’s CRL; a kill -9 of the holder hands revocation to the standby', async () => {
    const home = newHome();
    const first = await spawn(home, 'ca-a');
    const second = await spawn(home, 'ca-b');
    let again: Replica | undefined;
    try {
      assert.equal(await holder(), 'ca-a', 'the first replica took the lease');
      const c = await clients();
      const before = await crlOf(second);
      assert.ok(before, 'the standby serves the CRL the holder signed');
      assert.deepEqual(await crlOf(first), before);

      // Revoked through the holder: both replicas serve a newer CRL that lists it.
      const one = await enrol(c, OTHER_ID);
      await c.user.publish(enforceRevoke, { serial: one.serial, reason: 'test' });
      await eventually(
        async () => (await crlOf(second))?.serials.has(one.serial) ?? false,
        10_000,
        'the standby to serve a CRL listing the revoked serial',
      );
      const afterOne = await crlOf(first);
      assert.ok(afterOne && afterOne.number > before.number, 'the CRL number grew');

      await first.process.kill();
      assert.equal(await first.process.exited, 'SIGKILL');
      const two = await enrol(c, OTHER_ID);
      await c.user.publish(enforceRevoke, { serial: two.serial, reason: 'test' });
      await eventually(async () => (await holder()) === 'ca-b', 15_000, 'the standby to take the lease');
      await eventually(
        async () => (await crlOf(second))?.serials.has(two.serial) ?? false,
        10_000,
        'the new holder to revoke and sign',
      );
      const afterTwo = await crlOf(second);
      assert.ok(afterTwo && afterTwo.number > (afterOne?.number ?? 0), 'numbers keep growing across holders');
      assert.ok(afterTwo.serials.has(one.serial), 'the earlier revocation is still listed');

      // A clean stop releases the lease: the restarted replica waits as the standby, and takes it
      // back once the holder stops.
      again = await spawn(home, 'ca-a');
      assert.equal(await holder(), 'ca-b');
      await second.process.stop();
      await eventually(
        async () => (await holder()) === 'ca-a',
        5_000,
        'the standby to take a released lease',
      );
      assert.ok((await crlOf(again))?.serials.has(two.serial));
      await again.process.stop();
      await eventually(async () => (await holder()) === null, 5_000, 'the lease to be released on stop');
      await c.userNc.close();
      await c.agentNc.close();
    } finally {
      await Promise.all([first, second, again].map((r) => r?.process.stop()));
    }
  });
});
