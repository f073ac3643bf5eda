import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { runCli } from '@warden/cli';
import { Bus, enforceQuarantine, identityRevoked, provision } from '@warden/events';
import { enforcerService } from '@warden/enforcer';
import { freePort } from '@warden/infra';
import { certificatePem, inspectCertificate } from '@warden/pki';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import { captureOutput, cliEnv, tempDir, testLeaf, testTrustDomain, useNats } from '@warden/testing';
import type { TestLeaf } from '@warden/testing';
import { enforcerEnv } from './helpers.ts';

const TD = 'warden.local';
const idOf = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

describe('enforcer: HAProxy terminators', () => {
  const nats = useNats();

  it('enforces a quarantine from the bus and a revocation, lifts the quarantine on expiry, keeps it across a restart, rotates the certificate without a reload', async () => {
    const admin = await nats.get().connect('admin');
    await provision(admin, { streams: ['WARDEN_TELEMETRY', 'WARDEN_IDENTITY', 'WARDEN_TOPOLOGY'] });
    const bus = new Bus(admin, { source: 'test-admin' });
    const domain = await testTrustDomain(TD);
    // The agent's folder for payment-service.
    const agentDir = tempDir('agent-files');
    const writeServer = async (): Promise<TestLeaf> => {
      const leaf = await testLeaf(domain.intermediate, idOf('payments', 'payment-service'));
      writeFileSync(join(agentDir, 'cert-chain.pem'), leaf.chainPem.join(''));
      writeFileSync(join(agentDir, 'key.pem'), leaf.keyPem);
      return leaf;
    };
    await writeServer();
    writeFileSync(join(agentDir, 'root-cert.pem'), certificatePem(domain.root.certificate));
    writeFileSync(join(agentDir, 'crl.pem'), await domain.crls());
    const backend = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const bindPort = await freePort();
    const dir = tempDir('enforcer-terminators');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'terminators.yaml');
    writeFileSync(
      file,
      [
        'terminators:',
        `  - workload: payments/payment-service`,
        `    bind: 127.0.0.1:${bindPort}`,
        `    backend: 127.0.0.1:${(backend.address() as { port: number }).port}`,
        `    certificateDir: ${agentDir}`,
        `    qatProviderPath: /usr/lib/x86_64-linux-gnu/ossl-modules`,
      ].join('\n'),
    );
    const env = enforcerEnv(nats.get(), await freePort(), {
      WARDEN_TRUST_DOMAIN: TD,
      WARDEN_ENFORCER_TERMINATORS_FILE: file,
      WARDEN_ENFORCER_TERMINATOR_DIR: join(dir, 'state'),
    });
    const frontend = await testLeaf(domain.intermediate, idOf('shop', 'frontend'));
    const call = (leaf: TestLeaf): Promise<{ status: number; serial: string } | { error: string }> =>
      new Promise((resolve) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: bindPort,
            path: '/',
            ca: certificatePem(domain.root.certificate),
            checkServerIdentity: () => undefined,
            agent: false,
            cert: leaf.chainPem.join(''),
            key: leaf.keyPem,
          },
          (res) => {
            const raw = (res.socket as TLSSocket).getPeerCertificate().raw;
            const serial = inspectCertificate(
              `-----BEGIN CERTIFICATE-----\n${raw.toString('base64')}\n-----END CERTIFICATE-----\n`,
            ).serial;
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
          },
        );
        req.on('error', (err) => resolve({ error: err.message }));
        req.end();
      });
    const statusOf = async (leaf: TestLeaf): Promise<number> => {
      const answer = await call(leaf);
      return 'status' in answer ? answer.status : 0;
    };
    const until = async (leaf: TestLeaf, want: number): Promise<number> => {
      let status = await statusOf(leaf);
      for (let i = 0; i < 200 && status !== want; i++) {
        await new Promise((r) => setTimeout(r, 25));
        status = await statusOf(leaf);
      }
      return status;
    };

    let enforcer: RunningService | undefined = await runService(enforcerService, env);
    try {
      assert.equal(await until(frontend, 200), 200);
      const status = await captureOutput((io) =>
        runCli(['enforcer', 'status'], { io, env: cliEnv(nats.get()) }),
      );
      assert.match(
        status.out,
        /payments\/payment-service\s+127\.0\.0\.1:\d+\s+\d+\s+unavailable: QAT provider not loadable/,
      );

      // A quarantine published on the bus; the terminator refuses the caller, with no restart.
      await bus.publish(enforceQuarantine, {
        target: { workload: { namespace: 'shop', workload: 'frontend' } },
        ttlSeconds: 3,
        reason: 'forensics',
      });
      assert.equal(await until(frontend, 403), 403);

      // A restarted enforcer starts its terminator with the quarantine already in the map.
      await enforcer.stop('restart');
      enforcer = await runService(enforcerService, env);
      assert.equal(await statusOf(frontend), 403, 'still quarantined after the restart');
      assert.equal(await until(frontend, 200), 200, 'lifted when it expired');

      // A revocation announced by the CA.
      const revoked = await testLeaf(domain.intermediate, idOf('shop', 'cart'));
      assert.equal(await statusOf(revoked), 200);
      const ca = new Bus(await nats.get().connect('ca'), { source: 'test-ca' });
      await ca.publish(identityRevoked, {
        serials: [inspectCertificate(revoked.chainPem[0] ?? '').serial],
        reason: 'key compromise',
      });
      assert.equal(await until(revoked, 403), 403);

      // The agent rotates the certificate: served on the next connection, same HAProxy.
      const before = await call(frontend);
      const rotated = await writeServer();
      const want = inspectCertificate(rotated.chainPem[0] ?? '').serial;
      let after = await call(frontend);
      for (let i = 0; i < 100 && !('serial' in after && after.serial === want); i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = await call(frontend);
      }
      assert.ok('serial' in before && 'serial' in after);
      assert.equal(after.serial, want);
    } finally {
      await enforcer?.stop('test done');
      backend.close();
    }
  });

  it('refuses a malformed terminators file at start, naming the line', async () => {
    const file = join(tempDir('bad-terminators'), 'terminators.yaml');
    writeFileSync(file, 'terminators:\n  - workload: payments\n    bind: nowhere\n');
    await assert.rejects(
      runService(
        enforcerService,
        enforcerEnv(nats.get(), await freePort(), { WARDEN_ENFORCER_TERMINATORS_FILE: file }),
      ),
      /terminators\.yaml:2.*namespace\/name|terminators\.yaml:3/s,
    );
  });
});
