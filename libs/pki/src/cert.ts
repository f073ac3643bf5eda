import { randomBytes } from 'node:crypto';
import { permittedUriHosts } from './der.ts';
import { PkiError } from './errors.ts';
import { algorithmOfKey, signingParams } from './keys.ts';
import { toPem } from './pem.ts';
import { parseSpiffeId, parseTrustDomain, trustDomainId } from './spiffe.ts';
import type { PublicKeyType } from './x509.ts';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PublicKey,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from './x509.ts';
import type { CryptoKey, CryptoKeyPair } from './webcrypto.ts';

/** A CA that signs: its certificate and private key. */
export type Issuer = {
  readonly certificate: X509Certificate;
  readonly privateKey: CryptoKey;
};

const NAME_CONSTRAINTS_OID = '2.5.29.30';
/** Certificates start slightly in the past so that a peer whose clock lags accepts them at once. */
export const BACKDATE_MS = 30_000;

/**
 * A positive 128-bit serial, as lower-case hex without leading zeros (RFC 5280 allows up to 20
 * octets; 16 random bytes make collisions impossible in practice).
 */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export class CertificateBuildError extends PkiError {
  constructor(message: string) {
    super('certificate_build', message);
  }
}

export type CaOptions = {
  trustDomain: string;
  keys: CryptoKeyPair;
  notBefore?: Date;
  notAfter: Date;
  /** Adds a critical name constraint permitting only URIs of this trust domain. */
  nameConstraints?: boolean;
  /**
   * The CA generation (1 for the first, counting up with each rotation). From the second on it
   * is part of the subject: old and new CAs are trusted side by side during a rotation, and
   * verifiers (OpenSSL among them) look issuers and CRLs up by name.
   */
  generation?: number;
};

const generationSuffix = (generation: number | undefined): string =>
  generation !== undefined && generation > 1 ? ` G${generation}` : '';

function caExtensions(trustDomain: string, pathLength: number, nameConstraints: boolean): Extension[] {
  const extensions: Extension[] = [
    new BasicConstraintsExtension(true, pathLength, true),
    new KeyUsagesExtension(
      KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature,
      true,
    ),
    // Signing certificates carry the trust domain's own ID (X.509-SVID §4.1).
    new SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain).uri }]),
  ];
  if (nameConstraints)
    extensions.push(new Extension(NAME_CONSTRAINTS_OID, true, permittedUriHosts([trustDomain])));
  return extensions;
}

/** A self-signed root for a trust domain (path length 1: it signs intermediates only). */
export async function createRootCertificate(options: CaOptions): Promise<X509Certificate> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const name = `CN=Warden root CA ${trustDomain}${generationSuffix(options.generation)}, O=Warden`;
  return X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name,
    keys: options.keys,
    notBefore: options.notBefore ?? new Date(Date.now() - BACKDATE_MS),
    notAfter: options.notAfter,
    signingAlgorithm: signingParams(algorithmOfKey(options.keys.privateKey)),
    extensions: [
      ...caExtensions(trustDomain, 1, options.nameConstraints ?? false),
      await SubjectKeyIdentifierExtension.create(options.keys.publicKey),
    ],
  });
}

/** An intermediate signed by `issuer` (path length 0: it signs workload SVIDs only). */
export async function createIntermediateCertificate(
  options: CaOptions & { issuer: Issuer },
): Promise<X509Certificate> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const notAfter = capToIssuer(options.notAfter, options.issuer);
  return X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=Warden intermediate CA ${trustDomain}${generationSuffix(options.generation)} ${new Date().toISOString().slice(0, 10)}, O=Warden`,
    issuer: options.issuer.certificate.subject,
    publicKey: options.keys.publicKey,
    signingKey: options.issuer.privateKey,
    notBefore: options.notBefore ?? new Date(Date.now() - BACKDATE_MS),
    notAfter,
    signingAlgorithm: signingParams(algorithmOfKey(options.issuer.privateKey)),
    extensions: [
      ...caExtensions(trustDomain, 0, options.nameConstraints ?? false),
      await SubjectKeyIdentifierExtension.create(options.keys.publicKey),
      await authorityKeyId(options.issuer),
    ],
  });
}

export type LeafOptions = {
  spiffeId: string;
  /** The workload's public key: a SubjectPublicKeyInfo (DER), a WebCrypto key or a @peculiar/x509 key. */
  publicKey: PublicKeyType | Uint8Array;
  issuer: Issuer;
  /** Lifetime from now; the certificate also ends no later than its issuer. */
  ttlSeconds: number;
  serial?: string;
  /** Overrides "now" (tests build expired and not-yet-valid certificates with it). */
  now?: Date;
};

/**
 * An X.509-SVID: the SPIFFE ID as its only URI SAN, not a CA, digital signature (plus key
 * encipherment for RSA, which TLS 1.2 key transport needs), usable for TLS client and server auth.
 */
export async function issueLeafCertificate(options: LeafOptions): Promise<X509Certificate> {
  const id = parseSpiffeId(options.spiffeId);
  if (id.path === '') throw new CertificateBuildError('a workload SVID needs a SPIFFE ID with a path');
  if (!Number.isFinite(options.ttlSeconds) || options.ttlSeconds <= 0)
    throw new CertificateBuildError(`TTL must be positive, got ${options.ttlSeconds}`);
  const now = options.now?.getTime() ?? Date.now();
  const publicKey =
    options.publicKey instanceof Uint8Array ? new PublicKey(options.publicKey) : options.publicKey;
  const isRsa = (publicKey instanceof PublicKey ? publicKey.algorithm.name : '') === 'RSASSA-PKCS1-v1_5';
  const usages = KeyUsageFlags.digitalSignature | (isRsa ? KeyUsageFlags.keyEncipherment : 0);
  return X509CertificateGenerator.create({
    serialNumber: options.serial ?? newSerial(),
    subject: 'O=Warden',
    issuer: options.issuer.certificate.subject,
    publicKey,
    signingKey: options.issuer.privateKey,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: capToIssuer(new Date(now + options.ttlSeconds * 1000), options.issuer),
    signingAlgorithm: signingParams(algorithmOfKey(options.issuer.privateKey)),
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(usages, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
      new SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }]),
      await authorityKeyId(options.issuer),
    ],
  });
}

/** A certificate never outlives its issuer: a chain whose intermediate expired first is dead. */
function capToIssuer(notAfter: Date, issuer: Issuer): Date {
  return notAfter > issuer.certificate.notAfter ? issuer.certificate.notAfter : notAfter;
}

/** Cached per issuer certificate: computing the key identifier hashes the key on every call. */
const akiCache = new WeakMap<X509Certificate, AuthorityKeyIdentifierExtension>();

/** The authority key identifier leaves carry (also used by `fast-leaf.ts`, so both write the same one). */
export async function authorityKeyId(issuer: Issuer): Promise<AuthorityKeyIdentifierExtension> {
  let aki = akiCache.get(issuer.certificate);
  if (!aki) {
    const ski = issuer.certificate.getExtension(SubjectKeyIdentifierExtension);
    aki = ski
      ? new AuthorityKeyIdentifierExtension(ski.keyId)
      : await AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey);
    akiCache.set(issuer.certificate, aki);
  }
  return aki;
}

export const certificatePem = (cert: X509Certificate): string => toPem('CERTIFICATE', cert.rawData);

/** Parses a certificate from PEM or DER (no limits: for the CA's own stored certificates). */
export const loadCertificate = (data: string | Uint8Array): X509Certificate =>
  new X509Certificate(typeof data === 'string' ? data : Buffer.from(data));
