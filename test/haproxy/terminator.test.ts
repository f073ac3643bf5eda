import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkConfig,
  deleteMapEntry,
  detectQat,
  LOCKDOWN_KEY,
  mapKeys,
  PEER_IDENTITY_HEADER,
  putMapEntry,
  renderTerminator,
  replaceCertificate,
  runtimeCommand,
  terminatorFiles,
  mapFiles,
} from '@warden/haproxy';
import type { TerminatorOptions } from '@warden/haproxy';
import { binary, freePort, startProcess } from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import { certificatePem, inspectCertificate } from '@warden/pki';
import { tempDir, testLeaf, testTrustDomain } from '@warden/testing';
import type { TestLeaf, TestTrustDomain } from '@warden/testing';

const TD = 'warden.local';
const idOf = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const serverPem = (leaf: TestLeaf) => `${leaf.chainPem.join('')}${leaf.keyPem}`;

type Answer = { status: number; peerHeader?: string; serverSerial: string } | { error: string };

describe('HAProxy terminator (real haproxy 2.6)', () => {
  let domain: TestTrustDomain;
  let haproxy: ServerProcess;
  let backend: Server;
  let options: TerminatorOptions;
  let frontendLeaf: TestLeaf;
  let seenHeader: string | undefined;

  before(async () => {
    domain = await testTrustDomain(TD);
    const dir = tempDir('haproxy');
    const file = (name: string) => join(dir, name);
    backend = createServer((req, res) => {
      seenHeader = req.headers[PEER_IDENTITY_HEADER] as string | undefined;
      res.end('ok');
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as { port: number }).port;
    options = {
      workload: 'payments/payment-service',
      bind: { address: '127.0.0.1', port: await freePort() },
      backend: { address: '127.0.0.1', port: backendPort },
      files: terminatorFiles(dir, dir),
    };
    writeFileSync(
      options.files.certificate,
      serverPem(await testLeaf(domain.intermediate, idOf('payments', 'payment-service'))),
    );
    writeFileSync(options.files.caFile, certificatePem(domain.root.certificate));
    writeFileSync(options.files.crlFile, await domain.crls());
    for (const map of mapFiles(options.files)) writeFileSync(map, '');
    writeFileSync(file('haproxy.cfg'), renderTerminator(options));
    const check = await checkConfig(file('haproxy.cfg'), binary('haproxy'));
    assert.ok(check.valid, check.output);
    haproxy = await startProcess({
      name: 'haproxy',
      command: binary('haproxy'),
      args: ['-f', file('haproxy.cfg'), '-db'],
      logFile: file('haproxy.log'),
      ready: async () =>
        existsSync(options.files.runtimeSocket) &&
        /Name: HAProxy/.test(await runtimeCommand(options.files.runtimeSocket, 'show info')),
    });
    frontendLeaf = await testLeaf(domain.intermediate, idOf('shop', 'frontend'));
  });

  after(async () => {
    await haproxy?.stop();
    backend?.close();
  });

  /** One HTTPS request on a new connection (no resumption), with a client certificate or none. */
  const call = (leaf: TestLeaf | null): Promise<Answer> =>
    new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: options.bind.port,
          path: '/pay',
          ca: certificatePem(domain.root.certificate),
          servername: 'payment-service.payments',
          checkServerIdentity: () => undefined,
          agent: false,
          ...(leaf ? { cert: leaf.chainPem.join(''), key: leaf.keyPem } : {}),
        },
        (res) => {
          const raw = (res.socket as TLSSocket).getPeerCertificate().raw;
          const serverSerial = inspectCertificate(
            `-----BEGIN CERTIFICATE-----\n${raw.toString('base64')}\n-----END CERTIFICATE-----\n`,
          ).serial;
          res.resume();
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              ...(seenHeader ? { peerHeader: seenHeader } : {}),
              serverSerial,
            }),
          );
        },
      );
      req.on('error', (err) => resolve({ error: err.message }));
      seenHeader = undefined;
      req.end();
    });

  it('passes a verified caller to the workload with its SPIFFE ID, and refuses a caller without a certificate', async () => {
    const answer = await call(frontendLeaf);
    assert.ok('status' in answer, JSON.stringify(answer));
    assert.equal(answer.status, 200);
    assert.equal(answer.peerHeader, idOf('shop', 'frontend'));
    const anonymous = await call(null);
    assert.ok('error' in anonymous || anonymous.status !== 200, JSON.stringify(anonymous));
  });

  it('refuses a quarantined identity through a map entry, and lets it through once the entry is gone (no reload)', async () => {
    await putMapEntry(
      options.files.runtimeSocket,
      options.files.identityMap,
      idOf('shop', 'frontend'),
      'quarantine-1',
    );
    assert.deepEqual(await mapKeys(options.files.runtimeSocket, options.files.identityMap), [
      idOf('shop', 'frontend'),
    ]);
    const refused = await call(frontendLeaf);
    assert.ok('status' in refused && refused.status === 403, JSON.stringify(refused));
    const other = await call(await testLeaf(domain.intermediate, idOf('shop', 'cart')));
    assert.ok('status' in other && other.status === 200, 'another identity still passes');
    await deleteMapEntry(options.files.runtimeSocket, options.files.identityMap, idOf('shop', 'frontend'));
    const back = await call(frontendLeaf);
    assert.ok('status' in back && back.status === 200, JSON.stringify(back));
  });

  it('locks the workload down except for its allow-list', async () => {
    const socket = options.files.runtimeSocket;
    await putMapEntry(socket, options.files.lockdownMap, LOCKDOWN_KEY, 'quarantine-3');
    await putMapEntry(
      socket,
      options.files.lockdownAllowIdentityMap,
      idOf('shop', 'frontend'),
      'quarantine-3',
    );
    const allowed = await call(frontendLeaf);
    assert.ok('status' in allowed && allowed.status === 200, JSON.stringify(allowed));
    const other = await call(await testLeaf(domain.intermediate, idOf('shop', 'cart')));
    assert.ok('status' in other && other.status === 403, JSON.stringify(other));
    await deleteMapEntry(socket, options.files.lockdownMap, LOCKDOWN_KEY);
    await deleteMapEntry(socket, options.files.lockdownAllowIdentityMap, idOf('shop', 'frontend'));
  });

  it('refuses a quarantined source address', async () => {
    await putMapEntry(options.files.runtimeSocket, options.files.addressMap, '127.0.0.1', 'quarantine-2');
    const refused = await call(frontendLeaf);
    assert.ok('status' in refused && refused.status === 403, JSON.stringify(refused));
    await deleteMapEntry(options.files.runtimeSocket, options.files.addressMap, '127.0.0.1');
  });

  it('refuses a revoked certificate and serves a rotated certificate, both without a reload', async () => {
    const revoked = await testLeaf(domain.intermediate, idOf('shop', 'revoked'));
    const serial = inspectCertificate(revoked.chainPem[0] ?? '').serial;
    assert.ok('status' in (await call(revoked)));
    // Revocation at runtime is the serial map (see renderTerminator on HAProxy 2.6's CRL commit).
    await putMapEntry(options.files.runtimeSocket, options.files.revokedSerialMap, serial, 'revoked');
    const refused = await call(revoked);
    assert.ok(
      'status' in refused && refused.status === 403,
      `a revoked certificate was let through: ${JSON.stringify(refused)}`,
    );
    assert.ok('status' in (await call(frontendLeaf)), 'the others still pass');

    const before = await call(frontendLeaf);
    const rotated = await testLeaf(domain.intermediate, idOf('payments', 'payment-service'));
    await replaceCertificate(options.files.runtimeSocket, options.files.certificate, serverPem(rotated));
    const afterRotation = await call(frontendLeaf);
    assert.ok('serverSerial' in before && 'serverSerial' in afterRotation);
    assert.equal(afterRotation.serverSerial, inspectCertificate(rotated.chainPem[0] ?? '').serial);
    assert.notEqual(afterRotation.serverSerial, before.serverSerial);
    assert.equal(haproxy.child.exitCode, null, 'the same HAProxy process');
  });

  it('renders the QAT variant only when the provider loads; here HAProxy refuses it, as the detection says', async () => {
    const providerPath = '/usr/lib/x86_64-linux-gnu/ossl-modules';
    const qat = await detectQat(providerPath);
    const file = join(tempDir('haproxy-qat'), 'haproxy.cfg');
    writeFileSync(file, renderTerminator({ ...options, qat: { providerPath } }));
    const verdict = await checkConfig(file, binary('haproxy'));
    assert.equal(verdict.valid, qat.available, verdict.output);
    if (!qat.available) assert.match(verdict.output, /provider/i);
  });
});
