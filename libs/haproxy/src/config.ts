/**
 * `haproxy.cfg` for a Warden TLS terminator in front of one workload (HAProxy 2.6, Debian's build):
 * - mTLS: the workload's certificate (the agent's files, combined as HAProxy wants them), client
 *   certificates verified against Warden's bundle and CRL, ECDSA P-256, TLS 1.2+, resumption on;
 * - the peer's SPIFFE ID read from the verified certificate by `spiffe-id.lua` (HAProxy 2.6 has no
 *   fetch for URI SANs; keying maps by certificate fingerprint would need the CA's issued index at
 *   every terminator, while the ID is in the certificate itself) and passed to the backend in
 *   `x-warden-peer-spiffe-id`, any incoming copy removed first;
 * - deny maps Warden fills through the runtime API without a reload: the workload itself
 *   quarantined, quarantined identities and addresses, revoked serials; a call with no identity is refused. Revocation at runtime goes
 *   through the serial map, not `set/commit ssl crl-file`: on HAProxy 2.6.12 that commit unlinks the
 *   bind line from its certificate and CRL store entries (`show ssl cert` then says "Unused"), so
 *   the new CRL is not applied and every later `commit ssl cert` is lost. The CRL file (the agent's
 *   `crl.pem`) still applies from each start;
 * - Intel QAT through OpenSSL 3 providers (`ssl-provider qatprovider`, then `default`) only when
 *   the caller found the provider loadable (`qatAvailable`); this build has no engine support.
 * Pure: options in, text out.
 */

import { join } from 'node:path';
import { SPIFFE_ID_LUA } from './lua.ts';

export const PEER_IDENTITY_HEADER = 'x-warden-peer-spiffe-id';

/** The one key of the lockdown map. */
export const LOCKDOWN_KEY = 'workload';

export type TerminatorFiles = {
  /** Certificate chain then private key, one PEM file (HAProxy's `crt`). */
  certificate: string;
  /** Warden's trust bundle (the agent's `root-cert.pem`). */
  caFile: string;
  /** The CRL (the agent's `crl.pem`). */
  crlFile: string;
  /** Quarantined SPIFFE IDs (`<id> <rule id>` per line). */
  identityMap: string;
  /** Quarantined source addresses (`<ip or cidr> <rule id>` per line). */
  addressMap: string;
  /** Revoked certificate serials, lower-case hex without leading zeros (`normaliseSerial`). */
  revokedSerialMap: string;
  /** Holds the key `workload` while the workload itself is quarantined: every call is refused... */
  lockdownMap: string;
  /** ...except from these identities and addresses (a quarantine's allow-list). */
  lockdownAllowIdentityMap: string;
  lockdownAllowAddressMap: string;
  /** spiffe-id.lua. */
  lua: string;
  /** The runtime API's Unix socket. */
  runtimeSocket: string;
};

export type TerminatorOptions = {
  /** The workload, for names and logs: `<namespace>/<name>`. */
  workload: string;
  bind: { address: string; port: number };
  backend: { address: string; port: number };
  files: TerminatorFiles;
  /** Render the QAT variant: set only when the provider was found loadable. */
  qat?: { providerPath: string };
};

/**
 * The files of one terminator: what it owns in `dir` (its certificate, maps and runtime socket)
 * and the trust material the agent keeps current in `certificateDir` (`root-cert.pem`, `crl.pem`).
 */
export function terminatorFiles(dir: string, certificateDir: string): TerminatorFiles {
  const own = (file: string) => join(dir, file);
  return {
    certificate: own('server.pem'),
    caFile: join(certificateDir, 'root-cert.pem'),
    crlFile: join(certificateDir, 'crl.pem'),
    identityMap: own('identities.map'),
    addressMap: own('addresses.map'),
    revokedSerialMap: own('revoked.map'),
    lockdownMap: own('lockdown.map'),
    lockdownAllowIdentityMap: own('lockdown-allow-identities.map'),
    lockdownAllowAddressMap: own('lockdown-allow-addresses.map'),
    lua: SPIFFE_ID_LUA,
    runtimeSocket: own('haproxy.sock'),
  };
}

/** The maps of a terminator, each to be created (empty or filled) before HAProxy starts. */
export const mapFiles = (f: TerminatorFiles): string[] => [
  f.identityMap,
  f.addressMap,
  f.revokedSerialMap,
  f.lockdownMap,
  f.lockdownAllowIdentityMap,
  f.lockdownAllowAddressMap,
];

const name = (workload: string): string => workload.replace(/[^A-Za-z0-9_-]/g, '_');

/** An address as HAProxy writes it on a `bind` or `server` line. */
const hostPort = (a: { address: string; port: number }): string =>
  a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;

export function renderTerminator(o: TerminatorOptions): string {
  const id = name(o.workload);
  const f = o.files;
  const qat = o.qat
    ? [
        `  # Intel QAT: the provider was found loadable; default stays for what QAT does not do.`,
        `  ssl-provider-path ${o.qat.providerPath}`,
        '  ssl-provider qatprovider',
        '  ssl-provider default',
        '  ssl-mode-async',
      ]
    : ['  # Software crypto: no QAT provider found.'];
  return [
    `# Rendered by the Warden enforcer for ${o.workload}; changes go through the runtime API.`,
    'global',
    `  stats socket ${f.runtimeSocket} mode 600 level admin`,
    `  lua-load ${f.lua}`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets',
    '  ssl-default-bind-curves P-256',
    '  # Resumption through the session cache (tickets off: their keys would need rotating too).',
    '  tune.ssl.cachesize 100000',
    '  tune.ssl.lifetime 300',
    ...qat,
    '',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    '',
    `frontend ${id}_mtls`,
    `  bind ${hostPort(o.bind)} ssl crt ${f.certificate} ca-file ${f.caFile} crl-file ${f.crlFile} verify required alpn h2,http/1.1`,
    `  http-request del-header ${PEER_IDENTITY_HEADER}`,
    '  http-request set-var(txn.spiffe_id) lua.spiffe_id',
    `  http-request deny deny_status 403 if { str(workload),map(${f.lockdownMap}) -m found } !{ var(txn.spiffe_id),map(${f.lockdownAllowIdentityMap}) -m found } !{ src,map_ip(${f.lockdownAllowAddressMap}) -m found }`,
    '  http-request deny deny_status 403 if !{ var(txn.spiffe_id) -m found } || { var(txn.spiffe_id) -m len 0 }',
    `  http-request deny deny_status 403 if { var(txn.spiffe_id),map(${f.identityMap}) -m found }`,
    `  http-request deny deny_status 403 if { src,map_ip(${f.addressMap}) -m found }`,
    `  http-request deny deny_status 403 if { ssl_c_serial,hex,lower,regsub(^0+,),map(${f.revokedSerialMap}) -m found }`,
    `  http-request set-header ${PEER_IDENTITY_HEADER} %[var(txn.spiffe_id)]`,
    `  default_backend ${id}_workload`,
    '',
    `backend ${id}_workload`,
    `  server workload ${hostPort(o.backend)}`,
    '',
  ].join('\n');
}
