/**
 * The mtls-handshake benchmark's trust material: a Warden PKI made for the run (ECDSA P-256 root →
 * intermediate → one leaf per side, the SPIFFE ID as URI SAN), the client's SecureContexts, and
 * the same material as PEM files for openssl.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import {
  certificatePem,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  KeyAlgorithm,
} from '@warden/pki';
import type { Issuer } from '@warden/pki';
import type { ProfileName } from '../mtls-handshake-profiles.ts';
import { profileNames, profiles } from '../mtls-handshake-profiles.ts';

const TRUST_DOMAIN = 'cluster.local';
export const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
export const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/checkout';
/** The file openssl s_server -WWW serves and s_time -www fetches: the same 2 bytes as the Node server's answer. */
export const GET_PATH = '/ok';

type Svid = { keyPem: string; certPem: string; chainPem: string };
export type Pki = { rootPem: string; intermediatePem: string; client: Svid; server: Svid };

async function makeSvid(issuer: Issuer, spiffeId: string, intermediatePem: string): Promise<Svid> {
  const keys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  const leaf = await issueLeaf({ spiffeId, publicKey: spki, issuer, ttlSeconds: 3600 });
  return {
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certPem: leaf.pem,
    chainPem: `${leaf.pem.trimEnd()}\n${intermediatePem.trimEnd()}\n`,
  };
}

export async function makePki(): Promise<Pki> {
  const notAfter = new Date(Date.now() + 86_400_000);
  const rootKeys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const root = await createRootCertificate({ trustDomain: TRUST_DOMAIN, keys: rootKeys, notAfter });
  const interKeys = await generateKeyPair(KeyAlgorithm.ecdsaP256);
  const intermediate = await createIntermediateCertificate({
    trustDomain: TRUST_DOMAIN,
    keys: interKeys,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
    notAfter,
  });
  const issuer: Issuer = { certificate: intermediate, privateKey: interKeys.privateKey };
  const intermediatePem = certificatePem(intermediate);
  return {
    rootPem: certificatePem(root),
    intermediatePem,
    client: await makeSvid(issuer, CLIENT_ID, intermediatePem),
    server: await makeSvid(issuer, SERVER_ID, intermediatePem),
  };
}

export type ClientContexts = Record<ProfileName, SecureContext>;

/** The client's SecureContext per profile, made before the clock starts (as a sidecar keeps one per SVID). */
export function clientContexts(pki: Pki): ClientContexts {
  return Object.fromEntries(
    profileNames.map((name) => [
      name,
      createSecureContext({
        key: pki.client.keyPem,
        cert: pki.client.chainPem,
        ca: pki.rootPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        ...profiles[name].client,
      }),
    ]),
  ) as ClientContexts;
}

/** The PEM files openssl reads, in a temporary directory the caller removes. */
export type Files = { dir: string } & Record<
  'clientCert' | 'clientKey' | 'caBundle' | 'serverCert' | 'serverKey' | 'intermediate' | 'root',
  string
>;

export function writeFiles(pki: Pki): Files {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mtls-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  // What openssl s_server -WWW serves for GET /ok (it serves files relative to its working directory).
  write(GET_PATH.slice(1), 'ok');
  return {
    dir,
    clientCert: write('client.pem', pki.client.certPem),
    clientKey: write('client-key.pem', pki.client.keyPem),
    serverCert: write('server.pem', pki.server.certPem),
    serverKey: write('server-key.pem', pki.server.keyPem),
    intermediate: write('intermediate.pem', pki.intermediatePem),
    root: write('root.pem', pki.rootPem),
    // s_time's -cert loads the leaf only; OpenSSL then builds the chain it sends (leaf +
    // intermediate) from the verify store, so the intermediate goes beside the root in -CAfile.
    caBundle: write('ca-bundle.pem', `${pki.rootPem.trimEnd()}\n${pki.intermediatePem.trimEnd()}\n`),
  };
}
