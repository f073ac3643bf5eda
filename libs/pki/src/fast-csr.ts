import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { VerifiedCsr } from './csr.ts';
import { csrDer, MAX_CSR_BYTES, verifyCsr } from './csr.ts';
import type { Tlv } from './der.ts';
import {
  bytesOf,
  childrenOf,
  contentOf,
  contextConstructed,
  contextPrimitive,
  isMinimalPositiveInteger,
  isOid,
  isWellFormedOid,
  oidContent,
  readSingle,
  Tag,
} from './der.ts';
import { checkPublicKey } from './keys.ts';
import type { KeyDescription } from './keys.ts';
import type { SpiffeId } from './spiffe.ts';
import { parseSpiffeId } from './spiffe.ts';

/**
 * The CA's hot path for CSR verification. `verifyCsr` (csr.ts, @peculiar/x509) stays the
 * reference; this reads the common shape of a PKCS#10 request directly and strictly:
 *
 *   CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER (0), subject Name,
 *                                           subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute }
 *
 * with exactly one attribute, extensionRequest, holding exactly one extension, subjectAltName,
 * holding exactly one GeneralName, a URI; an EC P-256/P-384 key (uncompressed point) or an RSA
 * key; ECDSA or RSA PKCS#1 v1.5 signatures with SHA-256/384/512. That is what `createCsr` (and
 * so Warden's agent) writes, and what Go's crypto/x509 writes for a request with one URI SAN.
 *
 * The fast reader only ever ACCEPTS. It accepts a request only when every check `verifyCsr` makes
 * passes here too (same key policy function, same hash policy, a signature verified by OpenSSL,
 * exactly one URI SAN that is a valid SPIFFE ID) on a strictly DER-encoded request, so everything
 * it accepts `verifyCsr` accepts with the same result. Anything else — a refusal, or a shape it does
 * not read (BER, trailing bytes, other attributes or extensions, other algorithms) — goes to
 * `verifyCsr`, which decides as it always has: the same acceptance and the same error classes and
 * codes, by construction rather than by a second copy of the rules. A refused request costs what
 * it cost before this path existed; an accepted one about 0.2 ms instead of 1.2 ms.
 */

const OID = {
  extensionRequest: oidContent('1.2.840.113549.1.9.14'),
  subjectAltName: oidContent('2.5.29.17'),
  ecPublicKey: oidContent('1.2.840.10045.2.1'),
  p256: oidContent('1.2.840.10045.3.1.7'),
  p384: oidContent('1.3.132.0.34'),
  rsaEncryption: oidContent('1.2.840.113549.1.1.1'),
} as const;

type SignatureAlgorithm = { readonly oid: Buffer; readonly key: 'ec' | 'rsa'; readonly hash: string };

/** The only signature algorithms read here; SHA-1, MD5, RSA-PSS and the rest go to `verifyCsr`. */
const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: oidContent('1.2.840.10045.4.3.2'), key: 'ec', hash: 'sha256' },
  { oid: oidContent('1.2.840.10045.4.3.3'), key: 'ec', hash: 'sha384' },
  { oid: oidContent('1.2.840.10045.4.3.4'), key: 'ec', hash: 'sha512' },
  { oid: oidContent('1.2.840.113549.1.1.11'), key: 'rsa', hash: 'sha256' },
  { oid: oidContent('1.2.840.113549.1.1.12'), key: 'rsa', hash: 'sha384' },
  { oid: oidContent('1.2.840.113549.1.1.13'), key: 'rsa', hash: 'sha512' },
];

/** What the strict reader found; nothing in it has been verified yet. */
export type ParsedCsr = {
  /** The CertificationRequestInfo, the bytes the signature covers. */
  readonly info: Buffer;
  /** The SubjectPublicKeyInfo, verbatim. */
  readonly spki: Buffer;
  readonly keyType: 'ec' | 'rsa';
  /** The curve named by the SPKI's parameters, for EC keys. */
  readonly curve: 'P-256' | 'P-384' | undefined;
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** The signature BIT STRING's bits. */
  readonly signature: Buffer;
  /** The one URI SAN, as its bytes read as Latin-1 (a valid SPIFFE ID is ASCII). */
  readonly uri: string;
};

/** Thrown inside the reader for "not a shape this reader handles"; never leaves this module. */
class NotHandled extends Error {}

function need(condition: boolean, what: string): asserts condition {
  if (!condition) throw new NotHandled(what);
}

function children(buf: Buffer, parent: Tlv, tag: number, max = 16): Tlv[] {
  need(parent.tag === tag, 'unexpected tag');
  return childrenOf(buf, parent, max);
}

/** Printable ASCII only: values every ASN.1 string decoder reads the same way. */
function isPrintableAscii(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte < 0x20 || byte > 0x7e) return false;
  return true;
}

const NAME_VALUE_TAGS: ReadonlySet<number> = new Set([Tag.utf8String, Tag.printableString, Tag.ia5String]);

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value }: walked, checked, not used. */
function checkName(buf: Buffer, name: Tlv): void {
  for (const rdn of children(buf, name, Tag.sequence, 32)) {
    const attributes = children(buf, rdn, Tag.set, 8);
    need(attributes.length > 0, 'empty RDN');
    for (const attribute of attributes) {
      const [type, value, ...more] = children(buf, attribute, Tag.sequence, 3);
      need(type !== undefined && value !== undefined && more.length === 0, 'attribute shape');
      need(type.tag === Tag.oid && isWellFormedOid(contentOf(buf, type)), 'attribute type');
      need(NAME_VALUE_TAGS.has(value.tag) && isPrintableAscii(contentOf(buf, value)), 'attribute value');
    }
  }
}

/** SubjectPublicKeyInfo of an EC key on P-256/P-384 (uncompressed point) or an RSA key. */
function readSpki(buf: Buffer, spki: Tlv): { keyType: 'ec' | 'rsa'; curve?: 'P-256' | 'P-384' } {
  const [algorithm, key, ...more] = children(buf, spki, Tag.sequence, 3);
  need(algorithm !== undefined && key !== undefined && more.length === 0, 'SPKI shape');
  need(key.tag === Tag.bitString, 'SPKI key');
  const bits = contentOf(buf, key);
  need(bits[0] === 0, 'SPKI unused bits');
  const [oid, params, ...rest] = children(buf, algorithm, Tag.sequence, 3);
  need(oid !== undefined && params !== undefined && rest.length === 0, 'SPKI algorithm shape');
  if (isOid(buf, oid, OID.ecPublicKey)) {
    const point = bits.subarray(1);
    const curve = isOid(buf, params, OID.p256) ? 'P-256' : isOid(buf, params, OID.p384) ? 'P-384' : undefined;
    need(curve !== undefined, 'EC curve');
    const size = curve === 'P-256' ? 32 : 48;
    need(point.length === 1 + 2 * size && point[0] === 0x04, 'EC point not uncompressed');
    return { keyType: 'ec', curve };
  }
  need(isOid(buf, oid, OID.rsaEncryption), 'SPKI algorithm');
  need(params.tag === Tag.null && params.end === params.contentStart, 'RSA parameters');
  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, both positive, minimal.
  const rsaKey = bits.subarray(1);
  const sequence = readSingle(rsaKey, Tag.sequence);
  const [n, e, ...extra] = childrenOf(rsaKey, sequence, 3);
  need(n !== undefined && e !== undefined && extra.length === 0, 'RSA key shape');
  need(n.tag === Tag.integer && isMinimalPositiveInteger(contentOf(rsaKey, n)), 'RSA modulus');
  need(e.tag === Tag.integer && isMinimalPositiveInteger(contentOf(rsaKey, e)), 'RSA exponent');
  return { keyType: 'rsa' };
}

/** attributes [0]: exactly one extensionRequest with exactly one subjectAltName with one URI. */
function readUri(buf: Buffer, attributes: Tlv): string {
  const [attribute, ...others] = children(buf, attributes, contextConstructed(0), 2);
  need(attribute !== undefined && others.length === 0, 'one attribute');
  const [type, values, ...rest] = children(buf, attribute, Tag.sequence, 3);
  need(type !== undefined && values !== undefined && rest.length === 0, 'attribute shape');
  need(isOid(buf, type, OID.extensionRequest), 'extensionRequest');
  const [extensions, ...moreValues] = children(buf, values, Tag.set, 2);
  need(extensions !== undefined && moreValues.length === 0, 'one extensionRequest value');
  const [extension, ...moreExtensions] = children(buf, extensions, Tag.sequence, 2);
  // Only the SAN: @peculiar/x509 parses every extension it knows, and a malformed one of those
  // makes `verifyCsr` refuse the request, so a request with others is left to it.
  need(extension !== undefined && moreExtensions.length === 0, 'one extension');
  const fields = children(buf, extension, Tag.sequence, 4);
  const [oid] = fields;
  need(oid !== undefined && isOid(buf, oid, OID.subjectAltName), 'subjectAltName');
  let valueField: Tlv | undefined;
  if (fields.length === 3) {
    // DER: critical is present only when TRUE (FALSE is the DEFAULT).
    const critical = fields[1];
    need(critical !== undefined && critical.tag === Tag.boolean, 'critical');
    const flag = contentOf(buf, critical);
    need(flag.length === 1 && flag[0] === 0xff, 'critical TRUE');
    valueField = fields[2];
  } else {
    need(fields.length === 2, 'extension shape');
    valueField = fields[1];
  }
  need(valueField !== undefined && valueField.tag === Tag.octetString, 'extnValue');
  const value = contentOf(buf, valueField);
  const generalNames = readSingle(value, Tag.sequence);
  const [name, ...moreNames] = childrenOf(value, generalNames, 2);
  need(name !== undefined && moreNames.length === 0, 'one GeneralName');
  need(name.tag === contextPrimitive(6), 'a URI GeneralName');
  return contentOf(value, name).toString('latin1');
}

/**
 * Reads a PKCS#10 request of the shape above, strictly (DER, no trailing bytes), or returns
 * `undefined` for anything else. Checks structure only: keys, signature and SPIFFE ID are checked
 * by `tryVerifyCsr`.
 */
export function readCsr(der: Buffer): ParsedCsr | undefined {
  try {
    need(der.length <= MAX_CSR_BYTES, 'size');
    const request = readSingle(der, Tag.sequence);
    const [infoTlv, algorithmTlv, signatureTlv, ...rest] = childrenOf(der, request, 4);
    need(infoTlv !== undefined && algorithmTlv !== undefined && signatureTlv !== undefined, 'shape');
    need(rest.length === 0, 'shape');
    const [version, subject, spki, attributes, ...more] = children(der, infoTlv, Tag.sequence, 5);
    need(
      version !== undefined && subject !== undefined && spki !== undefined && attributes !== undefined,
      'info',
    );
    need(more.length === 0, 'info');
    // version v1(0): exactly `02 01 00`.
    need(version.tag === Tag.integer && bytesOf(der, version).equals(Buffer.from([2, 1, 0])), 'version');
    checkName(der, subject);
    const { keyType, curve } = readSpki(der, spki);
    const uri = readUri(der, attributes);

    const [algorithmOid, ...params] = children(der, algorithmTlv, Tag.sequence, 3);
    need(algorithmOid !== undefined, 'signature algorithm');
    const signatureAlgorithm = SIGNATURE_ALGORITHMS.find((a) => isOid(der, algorithmOid, a.oid));
    need(signatureAlgorithm !== undefined, 'signature algorithm not read here');
    need(signatureAlgorithm.key === keyType, 'signature algorithm does not match the key');
    // RFC 5758 §3.2: ECDSA has no parameters. RFC 4055 §5: RSA PKCS#1 v1.5 has NULL.
    if (keyType === 'ec') need(params.length === 0, 'ECDSA parameters');
    else
      need(
        params.length === 1 && params[0]?.tag === Tag.null && params[0].end === params[0].contentStart,
        'RSA NULL',
      );

    need(signatureTlv.tag === Tag.bitString, 'signature');
    const bits = contentOf(der, signatureTlv);
    need(bits.length > 1 && bits[0] === 0, 'signature unused bits');
    if (keyType === 'ec') {
      // The ECDSA signature must itself be DER (Ecdsa-Sig-Value); OpenSSL checks its contents.
      readSingle(bits.subarray(1), Tag.sequence);
    }
    return {
      info: bytesOf(der, infoTlv),
      // A copy: the caller keeps it (the certificate is built from it), apart from `der`.
      spki: Buffer.from(bytesOf(der, spki)),
      keyType,
      curve,
      signatureAlgorithm,
      signature: bits.subarray(1),
      uri,
    };
  } catch {
    // NotHandled, DerReadError, or anything unforeseen: not ours to decide.
    return undefined;
  }
}

/**
 * Verified on libuv's thread pool (the callback form of `verify`): at a few thousand requests a
 * second the signature check is the largest single cost of an issuance, and off the event loop
 * it runs beside the CA's bus and Redis work instead of in turn with it.
 */
function signatureVerifies(parsed: ParsedCsr, key: KeyObject): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      // The bare KeyObject, not `{ key, dsaEncoding }`: its defaults are what a CSR uses (DER
      // ECDSA signatures, PKCS#1 v1.5 RSA), and node:crypto takes it ~20 µs faster.
      verify(parsed.signatureAlgorithm.hash, parsed.info, key, parsed.signature, (err, ok) =>
        resolve(!err && ok),
      );
    } catch {
      resolve(false);
    }
  });
}

/**
 * The fast decision: a `VerifiedCsr` when the request is of the handled shape and passes every
 * check, `undefined` otherwise (then `verifyCsr` decides). `der` must already be within the size
 * limit (see `csrDer`).
 */
export async function tryVerifyCsr(der: Buffer): Promise<VerifiedCsr | undefined> {
  const parsed = readCsr(der);
  if (!parsed) return undefined;
  let publicKey: KeyObject;
  let description: KeyDescription;
  try {
    if (parsed.keyType === 'ec' && parsed.curve) {
      // The curve is read from the DER already (P-256/P-384 only, as checkPublicKey accepts);
      // OpenSSL still checks the point is on it. Asking the KeyObject for its details instead
      // costs another 15 µs per request.
      publicKey = createPublicKey({ key: parsed.spki, format: 'der', type: 'spki' });
      description = { type: 'ec', curve: parsed.curve };
    } else {
      // The very function `verifyCsr` applies: RSA 2048–4096, exponent at least 65537.
      ({ key: publicKey, description } = checkPublicKey(parsed.spki));
    }
  } catch {
    return undefined;
  }
  if (description.type !== parsed.keyType) return undefined;
  // Proof of possession: the requester signed this request with the private key of its SPKI.
  if (!(await signatureVerifies(parsed, publicKey))) return undefined;
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(parsed.uri);
  } catch {
    return undefined;
  }
  return { spiffeId, der, spki: parsed.spki, publicKey, key: description };
}

/**
 * `verifyCsr` with the fast path in front: the same input forms, limits, result and errors.
 * Size and PEM are checked first by the same code as `verifyCsr`; a request the fast path does
 * not accept is handed to `verifyCsr` unchanged.
 */
export async function verifyCsrFast(
  input: string | Uint8Array,
  options: { maxBytes?: number } = {},
): Promise<VerifiedCsr> {
  const der = csrDer(input, options.maxBytes ?? MAX_CSR_BYTES);
  // A caller's larger limit is honoured by the reference path only.
  const fast = der.length <= MAX_CSR_BYTES ? await tryVerifyCsr(der) : undefined;
  return fast ?? verifyCsr(der, options);
}
