import { X509Certificate as NodeCertificate } from 'node:crypto';
import {
  childrenOf,
  contentOf,
  contextConstructed,
  contextPrimitive,
  isOid,
  oidContent,
  readSingle,
  Tag,
} from './der.ts';
import { ChainProblem, ChainVerificationError, MalformedInputError } from './errors.ts';
import { decodePem } from './pem.ts';
import type { SpiffeId } from './spiffe.ts';
import { parseSpiffeId } from './spiffe.ts';

/** A chain is leaf + intermediate (ARCHITECTURE §3); a few more levels are tolerated, never dozens. */
export const MAX_CHAIN_CERTIFICATES = 5;
export const MAX_CHAIN_BYTES = 65_536;
export const MAX_BUNDLE_CERTIFICATES = 16;

export type CertificateInfo = {
  /** Lower-case hex, no leading zeros: the form the CA's index and events use. */
  readonly serial: string;
  /** The single SPIFFE ID URI SAN, or null if the certificate has none (or several, or an invalid one). */
  readonly spiffeId: string | null;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly fingerprintSha256: string;
  readonly der: Buffer;
};

/** Normalises a serial to lower-case hex without leading zeros. */
export const normaliseSerial = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

const SAN_OID = oidContent('2.5.29.17');
const URI_NAME = contextPrimitive(6);

/**
 * The URI SANs of a certificate; a malformed certificate or extension counts as none. Read
 * straight from the DER (Certificate → tbsCertificate → [3] extensions → subjectAltName): this
 * runs for every certificate of every chain verified (renewals, `cert inspect`, TLS peers), and
 * a full @peculiar/x509 parse cost ~0.8 ms where this costs microseconds.
 */
function uriSans(der: Uint8Array): string[] {
  try {
    const certificate = readSingle(der, Tag.sequence);
    const [tbs] = childrenOf(der, certificate, 3);
    if (!tbs || tbs.tag !== Tag.sequence) return [];
    const extensionsField = childrenOf(der, tbs, 16).find((t) => t.tag === contextConstructed(3));
    if (!extensionsField) return [];
    const [extensions] = childrenOf(der, extensionsField, 1);
    if (!extensions || extensions.tag !== Tag.sequence) return [];
    const uris: string[] = [];
    for (const extension of childrenOf(der, extensions, 64)) {
      const fields = childrenOf(der, extension, 3);
      const [oid] = fields;
      const value = fields[fields.length - 1];
      if (!oid || !isOid(der, oid, SAN_OID) || !value || value.tag !== Tag.octetString) continue;
      const names = contentOf(der, value);
      for (const name of childrenOf(names, readSingle(names, Tag.sequence), 256))
        if (name.tag === URI_NAME) uris.push(contentOf(names, name).toString('latin1'));
    }
    return uris;
  } catch {
    return [];
  }
}

function spiffeIdOf(der: Uint8Array): string | null {
  const uris = uriSans(der);
  if (uris.length !== 1) return null;
  try {
    return parseSpiffeId(uris[0] ?? '').uri;
  } catch {
    return null;
  }
}

function infoOf(cert: NodeCertificate): CertificateInfo {
  return {
    serial: normaliseSerial(cert.serialNumber),
    spiffeId: spiffeIdOf(cert.raw),
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    isCa: cert.ca,
    fingerprintSha256: cert.fingerprint256,
    der: cert.raw,
  };
}

function parseDer(der: Uint8Array, what: string): NodeCertificate {
  try {
    return new NodeCertificate(der);
  } catch (cause) {
    throw new MalformedInputError(what, 'not an X.509 certificate', { cause });
  }
}

/** Parses PEM certificates (leaf first for a chain) within the given limits. */
export function parseCertificates(
  pem: string | readonly string[],
  what = 'certificate chain',
  limits = { maxBytes: MAX_CHAIN_BYTES, maxBlocks: MAX_CHAIN_CERTIFICATES },
): NodeCertificate[] {
  const text = typeof pem === 'string' ? pem : pem.join('\n');
  return decodePem(text, 'CERTIFICATE', what, limits).map((der) => parseDer(der, what));
}

/** SPIFFE ID, validity, serial and issuer of one certificate (PEM, DER or a parsed one). */
export function inspectCertificate(cert: string | Uint8Array | NodeCertificate): CertificateInfo {
  if (cert instanceof NodeCertificate) return infoOf(cert);
  if (typeof cert !== 'string') return infoOf(parseDer(cert, 'certificate'));
  const [first] = parseCertificates(cert, 'certificate', { maxBytes: MAX_CHAIN_BYTES, maxBlocks: 1 });
  if (!first) throw new MalformedInputError('certificate', 'no certificate');
  return infoOf(first);
}

export type VerifiedChain = {
  readonly spiffeId: SpiffeId;
  readonly leaf: CertificateInfo;
  /** The chain as given, then the bundle root it ends at. */
  readonly path: readonly CertificateInfo[];
};

export type VerifyOptions = {
  /** The chain, leaf first (PEM text or one PEM per element). */
  chain: string | readonly string[];
  /** The trust bundle's roots, PEM. */
  roots: string | readonly string[];
  /** The leaf's SPIFFE ID must be in this trust domain. */
  trustDomain?: string;
  now?: Date;
};

const fail = (problem: ChainProblem, message: string): never => {
  throw new ChainVerificationError(problem, message);
};

function checkValidity(cert: NodeCertificate, role: string, now: Date): void {
  if (now < cert.validFromDate)
    fail(ChainProblem.notYetValid, `${role} is not valid before ${cert.validFromDate.toISOString()}`);
  if (now > cert.validToDate)
    fail(ChainProblem.expired, `${role} expired at ${cert.validToDate.toISOString()}`);
}

/** Is `child` issued and signed by `parent`? (names and key identifiers, then the signature.) */
const signedBy = (child: NodeCertificate, parent: NodeCertificate): boolean =>
  child.checkIssued(parent) && child.verify(parent.publicKey);

/**
 * Verifies an X.509-SVID chain against a trust bundle: every certificate valid now, each one
 * signed by the next, every issuer a CA, the last one signed by (or equal to) a bundle root, and
 * the leaf an end-entity certificate with exactly one SPIFFE ID in the expected trust domain.
 * Throws `ChainVerificationError` whose `problem` says which rule failed, and for which cert.
 */
export function verifyChain(options: VerifyOptions): VerifiedChain {
  const now = options.now ?? new Date();
  const chain = parseCertificates(options.chain);
  const roots = parseCertificates(options.roots, 'trust bundle', {
    maxBytes: MAX_CHAIN_BYTES * 4,
    maxBlocks: MAX_BUNDLE_CERTIFICATES,
  });
  const leaf = chain[0];
  if (!leaf) return fail(ChainProblem.empty, 'the chain is empty');
  if (leaf.ca) fail(ChainProblem.leafIsCa, 'the leaf is a CA certificate');
  const spiffeId = spiffeIdOf(leaf.raw);
  if (spiffeId === null) return fail(ChainProblem.noSpiffeId, 'the leaf carries no single valid SPIFFE ID');
  const id = parseSpiffeId(spiffeId);
  if (options.trustDomain !== undefined && id.trustDomain !== options.trustDomain)
    fail(
      ChainProblem.trustDomainMismatch,
      `the leaf is in trust domain ${id.trustDomain}, not ${options.trustDomain}`,
    );

  for (const [index, cert] of chain.entries()) {
    const role = index === 0 ? 'the leaf' : `chain certificate ${index} (${cert.subject})`;
    checkValidity(cert, role, now);
    const parent = chain[index + 1];
    if (!parent) break;
    if (!parent.ca) fail(ChainProblem.notCa, `the issuer of ${role} is not a CA`);
    if (!parent.checkIssued(cert) && !cert.checkIssued(parent))
      fail(ChainProblem.issuerMismatch, `${role} was not issued by the next certificate`);
    if (!cert.verify(parent.publicKey)) fail(ChainProblem.badSignature, `${role} has a bad signature`);
  }

  const top = chain[chain.length - 1] ?? leaf;
  let anchor = roots.find((root) => root.fingerprint256 === top.fingerprint256);
  if (!anchor) {
    anchor = roots.find((root) => root.ca && signedBy(top, root));
    if (!anchor) return fail(ChainProblem.untrusted, 'the chain does not end at a root of the trust bundle');
    checkValidity(anchor, `the root ${anchor.subject}`, now);
  }
  const path = [...chain, ...(anchor === top ? [] : [anchor])].map(infoOf);
  return { spiffeId: id, leaf: infoOf(leaf), path };
}

/**
 * The SPIFFE ID of a TLS peer from its DER certificate (`socket.getPeerCertificate().raw`), or
 * null. The chain itself is checked by the TLS stack against the bundle given as `ca`.
 */
export const peerSpiffeId = (der: Uint8Array | undefined): string | null =>
  der && der.length > 0 ? spiffeIdOf(der) : null;
