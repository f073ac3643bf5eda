import { createPublicKey, KeyObject, sign } from 'node:crypto';
import type { Issuer } from './cert.ts';
import { authorityKeyId, BACKDATE_MS, CertificateBuildError, newSerial } from './cert.ts';
import type { Tlv } from './der.ts';
import {
  childrenOf,
  bytesOf,
  contextConstructed,
  contextPrimitive,
  DER_NULL,
  DER_TRUE,
  derBitString,
  derOid,
  derSequence,
  derTime,
  derUnsignedInteger,
  expectTlv,
  isOid,
  oidContent,
  readSingle,
  Tag,
  tlv,
} from './der.ts';
import { algorithmOfKey, KeyAlgorithm } from './keys.ts';
import { toPem } from './pem.ts';
import type { X509Certificate } from './x509.ts';
import { parseSpiffeId } from './spiffe.ts';

/**
 * The CA's hot path for X.509-SVIDs: the TBSCertificate is written as DER from a template made
 * once per issuer, and signed with `node:crypto`. It writes exactly what `issueLeafCertificate`
 * (cert.ts, @peculiar/x509) writes for the same inputs — same subject, extensions, criticality,
 * validity and encoding — which `fast-leaf.test.ts` checks on random inputs; building one with
 * @peculiar/x509 costs about 2 ms of JavaScript ASN.1, this about 0.1 ms, signature included.
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version v3, serialNumber, signature, issuer, validity,
 *                                 subject, subjectPublicKeyInfo, [3] extensions }
 */

export type FastLeafOptions = {
  spiffeId: string;
  /** The workload's SubjectPublicKeyInfo, DER (as `verifyCsr` returns it): copied verbatim. */
  publicKey: Uint8Array;
  issuer: Issuer;
  /** Lifetime from now; the certificate also ends no later than its issuer. */
  ttlSeconds: number;
  /** Lower-case or upper-case hex of a positive serial of at most 20 octets; random by default. */
  serial?: string;
  now?: Date;
};

export type IssuedLeaf = {
  readonly der: Buffer;
  readonly pem: string;
  /** Lower-case hex without leading zeros (the form the CA's index and events use). */
  readonly serial: string;
  /** As encoded: whole seconds. */
  readonly notBefore: Date;
  readonly notAfter: Date;
};

const OID = {
  ecPublicKey: oidContent('1.2.840.10045.2.1'),
  rsaEncryption: oidContent('1.2.840.113549.1.1.1'),
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  organizationName: '2.5.4.10',
} as const;

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
const extension = (oid: string, critical: boolean, value: Uint8Array): Buffer =>
  derSequence(derOid(oid), ...(critical ? [DER_TRUE] : []), tlv(Tag.octetString, value));

/** `[0] EXPLICIT Version ::= v3(2)`. */
const VERSION_V3 = tlv(contextConstructed(0), Buffer.from([Tag.integer, 0x01, 0x02]));
/** The leaf subject is `O=Warden` as a PrintableString, as @peculiar/x509 writes it from that string. */
const SUBJECT = derSequence(
  tlv(Tag.set, derSequence(derOid(OID.organizationName), tlv(Tag.printableString, Buffer.from('Warden')))),
);
/** basicConstraints, critical, cA FALSE (the DEFAULT, so an empty SEQUENCE). */
const BASIC_CONSTRAINTS = extension(OID.basicConstraints, true, derSequence());
/**
 * keyUsage, critical: digitalSignature (bit 0: `03 02 07 80`), plus keyEncipherment (bit 2:
 * `03 02 05 a0`) for RSA keys, which TLS 1.2 RSA key transport needs. DER drops trailing zero bits.
 */
const KEY_USAGE_EC = extension(OID.keyUsage, true, Buffer.from([Tag.bitString, 0x02, 0x07, 0x80]));
const KEY_USAGE_RSA = extension(OID.keyUsage, true, Buffer.from([Tag.bitString, 0x02, 0x05, 0xa0]));
/** extKeyUsage, not critical: TLS server and client authentication. */
const EXT_KEY_USAGE = extension(
  OID.extKeyUsage,
  false,
  derSequence(derOid(OID.serverAuth), derOid(OID.clientAuth)),
);

/** AlgorithmIdentifier of the issuer's signature (RFC 5758 §3.2: no parameters for ECDSA; RFC 4055: NULL for RSA). */
const SIGNATURE_ALGORITHM: Record<KeyAlgorithm, Buffer> = {
  [KeyAlgorithm.ecdsaP256]: derSequence(derOid('1.2.840.10045.4.3.2')),
  [KeyAlgorithm.rsa2048]: derSequence(derOid('1.2.840.113549.1.1.11'), DER_NULL),
};

type Template = {
  readonly privateKey: Issuer['privateKey'];
  readonly signingKey: KeyObject;
  readonly algorithm: KeyAlgorithm;
  readonly signatureAlgorithm: Buffer;
  readonly issuerName: Buffer;
  readonly issuerNotAfter: number;
  readonly authorityKeyId: Buffer;
};

/**
 * The fields of a TBSCertificate, in order, each checked to be well-formed DER (strict reader).
 * Used on the issuer's own certificate only, off the hot path.
 */
function tbsFields(der: Uint8Array): Tlv[] {
  let tbs: Tlv | undefined;
  try {
    [tbs] = childrenOf(der, readSingle(der, Tag.sequence), 3);
    if (tbs?.tag === Tag.sequence) return childrenOf(der, tbs, 10);
  } catch {
    // Reported below: whatever is wrong, this issuer certificate cannot be a template.
  }
  throw new CertificateBuildError('the issuer certificate is not a DER X.509 certificate');
}

/** Templates per issuer certificate, rebuilt if the same certificate comes with another key. */
const templates = new WeakMap<X509Certificate, Template>();

async function templateFor(issuer: Issuer): Promise<Template> {
  const cached = templates.get(issuer.certificate);
  if (cached && cached.privateKey === issuer.privateKey) return cached;
  // Same refusal as the @peculiar/x509 builder for a key Warden does not sign with.
  const algorithm = algorithmOfKey(issuer.privateKey);
  const der = new Uint8Array(issuer.certificate.rawData);
  const fields = tbsFields(der);
  // v3 certificates: [0] version, serial, signature, issuer, validity, subject, SPKI, ...
  const subject = fields[0]?.tag === contextConstructed(0) ? fields[5] : undefined;
  if (!subject || subject.tag !== Tag.sequence)
    throw new CertificateBuildError('issuer certificate has no subject name');
  const signingKey = KeyObject.from(issuer.privateKey);
  // A leaf signed by a key other than the one the issuer certificate names would never verify;
  // refuse once here rather than hand out certificates that fail at every peer.
  const spki = fields[6];
  if (
    !spki ||
    !createPublicKey(signingKey).export({ type: 'spki', format: 'der' }).equals(bytesOf(der, spki))
  )
    throw new CertificateBuildError('the issuer private key does not match the issuer certificate');
  const aki = await authorityKeyId(issuer);
  const template: Template = {
    privateKey: issuer.privateKey,
    signingKey,
    algorithm,
    signatureAlgorithm: SIGNATURE_ALGORITHM[algorithm],
    // Copied byte for byte from the issuer's subject: RFC 5280 name chaining compares them.
    issuerName: Buffer.from(bytesOf(der, subject)),
    issuerNotAfter: issuer.certificate.notAfter.getTime(),
    authorityKeyId: extension(OID.authorityKeyIdentifier, aki.critical, new Uint8Array(aki.value)),
  };
  templates.set(issuer.certificate, template);
  return template;
}

/**
 * Reads the SPKI's algorithm. The SPKI is copied into the certificate verbatim, so it must be one
 * well-formed DER SEQUENCE { AlgorithmIdentifier, BIT STRING } and nothing else: bytes after it,
 * or a length that runs past it, would let whoever chose the key write other fields of the
 * TBSCertificate the CA signs (another extension, say basicConstraints cA=TRUE).
 */
function spkiIsRsa(spki: Uint8Array): boolean {
  const outer = readSingle(spki, Tag.sequence);
  const [algorithm, key, ...more] = childrenOf(spki, outer, 3);
  if (!algorithm || algorithm.tag !== Tag.sequence || key?.tag !== Tag.bitString || more.length > 0)
    throw new CertificateBuildError('the public key is not a SubjectPublicKeyInfo');
  const oid = expectTlv(spki, algorithm.contentStart, algorithm.end, Tag.oid);
  return isOid(spki, oid, OID.rsaEncryption);
}

const HEX = /^[0-9a-fA-F]+$/;

/** The serial's magnitude: positive and at most 20 octets (RFC 5280 §4.1.2.2). */
function serialBytes(hex: string): Buffer {
  if (!HEX.test(hex)) throw new CertificateBuildError('the serial must be hexadecimal');
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  const magnitude = bytes.subarray(first);
  if (magnitude.length === 0) throw new CertificateBuildError('the serial must be positive');
  // 20 octets of content including a leading 0x00 when the high bit is set.
  if (magnitude.length + ((magnitude[0] ?? 0) & 0x80 ? 1 : 0) > 20)
    throw new CertificateBuildError('the serial must fit in 20 octets');
  return magnitude;
}

function timeOf(ms: number): Buffer {
  try {
    return derTime(new Date(ms));
  } catch (err) {
    throw new CertificateBuildError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * An X.509-SVID, exactly as `issueLeafCertificate` builds it: subject O=Warden, the SPIFFE ID as
 * its only URI SAN, basic constraints cA=false (critical), key usage digitalSignature (plus
 * keyEncipherment for RSA keys; critical), EKU serverAuth+clientAuth, the issuer's key
 * identifier; valid from 30 s ago for `ttlSeconds`, never past the issuer's notAfter.
 */
export async function issueLeaf(options: FastLeafOptions): Promise<IssuedLeaf> {
  const id = parseSpiffeId(options.spiffeId);
  if (id.path === '') throw new CertificateBuildError('a workload SVID needs a SPIFFE ID with a path');
  if (!Number.isFinite(options.ttlSeconds) || options.ttlSeconds <= 0)
    throw new CertificateBuildError(`TTL must be positive, got ${options.ttlSeconds}`);
  const template = await templateFor(options.issuer);
  const spki = options.publicKey;
  let isRsa: boolean;
  try {
    isRsa = spkiIsRsa(spki);
  } catch (err) {
    if (err instanceof CertificateBuildError) throw err;
    throw new CertificateBuildError('the public key is not a DER SubjectPublicKeyInfo');
  }
  const serialHex = options.serial ?? newSerial();
  const magnitude = serialBytes(serialHex);

  const now = options.now?.getTime() ?? Date.now();
  // The cap compares milliseconds and the encoding truncates to seconds, as @peculiar/x509 does.
  const requestedEnd = now + options.ttlSeconds * 1000;
  const notBeforeMs = Math.floor((now - BACKDATE_MS) / 1000) * 1000;
  const notAfterMs =
    Math.floor((requestedEnd > template.issuerNotAfter ? template.issuerNotAfter : requestedEnd) / 1000) *
    1000;

  const san = extension(
    OID.subjectAltName,
    false,
    derSequence(tlv(contextPrimitive(6), Buffer.from(id.uri, 'ascii'))),
  );
  const tbs = derSequence(
    VERSION_V3,
    derUnsignedInteger(magnitude),
    template.signatureAlgorithm,
    template.issuerName,
    derSequence(timeOf(notBeforeMs), timeOf(notAfterMs)),
    SUBJECT,
    spki,
    tlv(
      contextConstructed(3),
      derSequence(
        BASIC_CONSTRAINTS,
        isRsa ? KEY_USAGE_RSA : KEY_USAGE_EC,
        EXT_KEY_USAGE,
        san,
        template.authorityKeyId,
      ),
    ),
  );
  // On libuv's thread pool (the callback form), beside the event loop's work: see fast-csr.ts.
  // The bare KeyObject: its defaults are the certificate's encodings (DER ECDSA signature,
  // PKCS#1 v1.5 RSA), and node:crypto takes it faster than an options object.
  const signature = await new Promise<Buffer>((resolve, reject) =>
    sign('sha256', tbs, template.signingKey, (err, signed) =>
      err ? reject(new CertificateBuildError(`signing failed: ${err.message}`)) : resolve(signed),
    ),
  );
  const der = derSequence(tbs, template.signatureAlgorithm, derBitString(signature));
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    serial: magnitude.toString('hex').replace(/^0+(?=.)/, ''),
    notBefore: new Date(notBeforeMs),
    notAfter: new Date(notAfterMs),
  };
}
