import type { Issuer } from './cert.ts';
import { algorithmOfKey, signingParams } from './keys.ts';
import { toPem } from './pem.ts';
import { AuthorityKeyIdentifierExtension, SubjectKeyIdentifierExtension, X509CrlGenerator } from './x509.ts';

export type CrlEntry = { serial: string; revokedAt: Date };

/**
 * A CRL signed by `issuer` listing `entries`. Peers that check revocation offline (node:tls's
 * `crl` option, HAProxy's `crl-file`) use it; the bus event stays the one-second path.
 */
export async function createCrl(options: {
  issuer: Issuer;
  entries: readonly CrlEntry[];
  thisUpdate?: Date;
  nextUpdate: Date;
}): Promise<{ der: Buffer; pem: string }> {
  const ski = options.issuer.certificate.getExtension(SubjectKeyIdentifierExtension);
  const crl = await X509CrlGenerator.create({
    issuer: options.issuer.certificate.subject,
    thisUpdate: options.thisUpdate ?? new Date(),
    nextUpdate: options.nextUpdate,
    signingKey: options.issuer.privateKey,
    signingAlgorithm: signingParams(algorithmOfKey(options.issuer.privateKey)),
    entries: options.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt })),
    extensions: ski ? [new AuthorityKeyIdentifierExtension(ski.keyId)] : [],
  });
  const der = Buffer.from(crl.rawData);
  return { der, pem: toPem('X509 CRL', der) };
}
