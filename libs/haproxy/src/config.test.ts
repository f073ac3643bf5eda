import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TerminatorOptions } from './config.ts';
import { renderTerminator } from './config.ts';

/** Golden files: the software and QAT variants for the same workload. UPDATE_GOLDEN=1 rewrites them. */
const dir = join(import.meta.dirname, 'testdata');
const update = process.env['UPDATE_GOLDEN'] === '1';

const options: TerminatorOptions = {
  workload: 'payments/payment-service',
  bind: { address: '0.0.0.0', port: 8443 },
  backend: { address: '127.0.0.1', port: 8080 },
  files: {
    certificate: '/var/run/warden/payment-service/server.pem',
    caFile: '/var/run/warden/payment-service/root-cert.pem',
    crlFile: '/var/run/warden/payment-service/crl.pem',
    identityMap: '/var/run/warden/payment-service/quarantine-identities.map',
    addressMap: '/var/run/warden/payment-service/quarantine-addresses.map',
    revokedSerialMap: '/var/run/warden/payment-service/revoked-serials.map',
    lockdownMap: '/var/run/warden/payment-service/lockdown.map',
    lua: '/usr/share/warden/spiffe-id.lua',
    runtimeSocket: '/var/run/warden/payment-service/haproxy.sock',
  },
};

function golden(file: string, text: string): void {
  const path = join(dir, file);
  if (update) writeFileSync(path, text);
  assert.equal(text, readFileSync(path, 'utf8'), file);
}

describe('haproxy.cfg for a terminator (golden)', () => {
  it('software crypto', () => golden('terminator.cfg', renderTerminator(options)));
  it('Intel QAT through the OpenSSL provider', () =>
    golden(
      'terminator-qat.cfg',
      renderTerminator({ ...options, qat: { providerPath: '/usr/lib/x86_64-linux-gnu/ossl-modules' } }),
    ));
  it('brackets an IPv6 bind address', () => {
    assert.match(
      renderTerminator({ ...options, bind: { address: '::', port: 8443 } }),
      /bind \[::\]:8443 ssl/,
    );
  });
});
