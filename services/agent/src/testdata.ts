import {
  certificatePem,
  createCrl,
  createIntermediateCertificate,
  createRootCertificate,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeafCertificate,
} from '@warden/pki';
import type { Issuer } from '@warden/pki';
import type { Bundle } from './svid.ts';

/** A small trust domain for unit tests: a root, an intermediate, and leaves on demand. */
export type TestAuthority = {
  bundle: Bundle;
  intermediatePem: string;
  /** The root's CRL, then the intermediate's listing `serials`, as the CA's /v1/crl.pem serves them. */
  crls(options?: { serials?: readonly string[]; thisUpdate?: Date; nextUpdate?: Date }): Promise<string>;
  leaf(
    spiffeId: string,
    options?: { ttlSeconds?: number; now?: Date },
  ): Promise<{ keyPem: string; chainPem: string[] }>;
};

export async function testAuthority(trustDomain = 'cluster.local'): Promise<TestAuthority> {
  const year = new Date(Date.now() + 365 * 86_400_000);
  const rootKeys = await generateKeyPair();
  const root = await createRootCertificate({ trustDomain, keys: rootKeys, notAfter: year });
  const interKeys = await generateKeyPair();
  const intermediate = await createIntermediateCertificate({
    trustDomain,
    keys: interKeys,
    notAfter: year,
    issuer: { certificate: root, privateKey: rootKeys.privateKey },
  });
  const issuer: Issuer = { certificate: intermediate, privateKey: interKeys.privateKey };
  return {
    bundle: { trustDomain, sequence: 1, rootsPem: [certificatePem(root)] },
    intermediatePem: certificatePem(intermediate),
    crls: async ({
      serials = [],
      thisUpdate = new Date(),
      nextUpdate = new Date(Date.now() + 3_600_000),
    } = {}) => {
      const times = { thisUpdate, nextUpdate };
      const rootCrl = await createCrl({
        issuer: { certificate: root, privateKey: rootKeys.privateKey },
        entries: [],
        ...times,
      });
      const entries = serials.map((serial) => ({ serial, revokedAt: thisUpdate }));
      return rootCrl.pem + (await createCrl({ issuer, entries, ...times })).pem;
    },
    leaf: async (spiffeId, options = {}) => {
      const keys = await generateKeyPair();
      const cert = await issueLeafCertificate({
        spiffeId,
        publicKey: keys.publicKey,
        issuer,
        ttlSeconds: options.ttlSeconds ?? 3600,
        ...(options.now ? { now: options.now } : {}),
      });
      return {
        keyPem: await exportPrivateKeyPem(keys.privateKey),
        chainPem: [certificatePem(cert), certificatePem(intermediate)],
      };
    },
  };
}
