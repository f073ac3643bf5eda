/**
 * The certificates NATS cluster routes authenticate each other with: a small CA of the stack's
 * own (EC P-256) and one route certificate it signs, for 127.0.0.1 and localhost, usable as TLS
 * server and client (routes verify both ends). Created once with openssl in `dir` (keys 0600)
 * and reused, so a restarted node presents the certificate its peers already trust.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export type RouteTls = { caFile: string; certFile: string; keyFile: string };

const run = promisify(execFile);
const openssl = (args: readonly string[]) => run('openssl', args, { timeout: 30_000 });

export async function ensureRouteTls(dir: string): Promise<RouteTls> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tls: RouteTls = {
    caFile: join(dir, 'route-ca.pem'),
    certFile: join(dir, 'route.pem'),
    keyFile: join(dir, 'route-key.pem'),
  };
  if ([tls.caFile, tls.certFile, tls.keyFile].every((f) => existsSync(f))) return tls;
  const caKey = join(dir, 'route-ca-key.pem');
  const csr = join(dir, 'route.csr');
  const ext = join(dir, 'route.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    tls.caFile,
    '-days',
    '3650',
    '-subj',
    '/CN=warden local NATS route CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl([
    'req',
    '-new',
    ...ec,
    '-keyout',
    tls.keyFile,
    '-out',
    csr,
    '-subj',
    '/CN=warden-nats-route',
  ]);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    tls.caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    tls.certFile,
    '-days',
    '825',
    '-extfile',
    ext,
  ]);
  for (const key of [caKey, tls.keyFile]) chmodSync(key, 0o600);
  return tls;
}
