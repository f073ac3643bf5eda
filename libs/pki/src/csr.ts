import type { KeyObject } from 'node:crypto';
import {
  CsrIdentityError,
  CsrSignatureError,
  InputTooLargeError,
  MalformedInputError,
  PkiError,
} from './errors.ts';
import { childrenOf, DerReadError, readSingle, Tag } from './der.ts';
import type { Tlv } from './der.ts';
import type { KeyDescription } from './keys.ts';
import { algorithmOfKey, checkPublicKey, signingParams } from './keys.ts';
import { decodePem, toPem } from './pem.ts';
import type { SpiffeId } from './spiffe.ts';
import { parseSpiffeId } from './spiffe.ts';
import {
  Pkcs10CertificateRequest,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from './x509.ts';
import type { CryptoKeyPair } from './webcrypto.ts';

/** A CSR for an ECDSA P-256 or RSA-2048 key is well under 2 KiB of PEM; 16 KiB leaves room. */
export const MAX_CSR_BYTES = 16_384;
const SAN_OID = '2.5.29.17';
/** SHA-1 and MD5 signatures are refused: a forged CSR signature would prove nothing. */
const ACCEPTED_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

export type VerifiedCsr = {
  readonly spiffeId: SpiffeId;
  /** The CSR's DER bytes (what a renewal proof of possession signs). */
  readonly der: Buffer;
  /** The SubjectPublicKeyInfo, DER. */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly key: KeyDescription;
};

/** Writes a CSR carrying exactly one URI SAN, the SPIFFE ID, signed by the key pair's private key. */
export async function createCsr(keys: CryptoKeyPair, spiffeId: string): Promise<string> {
  const id = parseSpiffeId(spiffeId);
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: 'O=Warden',
    keys,
    signingAlgorithm: signingParams(algorithmOfKey(keys.privateKey)),
    extensions: [new SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }])],
  });
  return toPem('CERTIFICATE REQUEST', csr.rawData);
}

/** The DER of a CSR given as PEM text or DER bytes, within the size limit (shared with `fast-csr.ts`). */
export function csrDer(input: string | Uint8Array, maxBytes: number): Buffer {
  if (typeof input !== 'string') {
    if (input.byteLength > maxBytes) throw new InputTooLargeError('CSR', input.byteLength, maxBytes);
    return Buffer.from(input);
  }
  const [der] = decodePem(input, 'CERTIFICATE REQUEST', 'CSR', { maxBytes, maxBlocks: 1 });
  if (!der) throw new MalformedInputError('CSR', 'no PEM block');
  return der;
}

/** Nesting deeper than any CSR needs is refused rather than walked. */
const MAX_DER_DEPTH = 16;

/**
 * Strict DER framing for the request: one SEQUENCE and nothing after it, and every constructed
 * element within it with definite, minimal lengths. Values wrapped in OCTET or BIT STRINGs (the
 * SAN extension, the public key) are not walked here: the SAN parser and node:crypto read those.
 * The ASN.1 parser behind `Pkcs10CertificateRequest` also takes BER and ignores trailing bytes;
 * a CA that signs what two parsers could read differently invites confusion about what was asked.
 */
function checkDerStructure(der: Buffer): void {
  const walk = (t: Tlv, depth: number): void => {
    if (depth > MAX_DER_DEPTH) throw new DerReadError('nested too deeply');
    // Bit 6 of the tag marks a constructed encoding, whose content is itself TLVs.
    if ((t.tag & 0x20) === 0) return;
    for (const child of childrenOf(der, t, 4096)) walk(child, depth + 1);
  };
  try {
    walk(readSingle(der, Tag.sequence), 0);
  } catch (cause) {
    if (!(cause instanceof DerReadError)) throw cause;
    throw new MalformedInputError('CSR', `not DER (${cause.message})`, { cause });
  }
}

/**
 * Parses a PKCS#10 CSR and checks everything the CA relies on before signing: size, structure,
 * an accepted key (ECDSA P-256/P-384, RSA 2048–4096), a SHA-2 signature that verifies with that
 * key (proof that the requester holds the private key), and exactly one URI SAN that is a valid
 * SPIFFE ID. Other names in the CSR (subject, DNS SANs) are ignored: the CA never copies them.
 */
export async function verifyCsr(
  input: string | Uint8Array,
  options: { maxBytes?: number } = {},
): Promise<VerifiedCsr> {
  const der = csrDer(input, options.maxBytes ?? MAX_CSR_BYTES);
  checkDerStructure(der);
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(der);
  } catch (cause) {
    throw new MalformedInputError('CSR', 'not a PKCS#10 certification request', { cause });
  }
  const spki = Buffer.from(csr.publicKey.rawData);
  const { key, description } = checkPublicKey(spki);

  let hash: string | undefined;
  try {
    hash = csr.signatureAlgorithm.hash?.name;
  } catch {
    hash = undefined;
  }
  if (!hash || !ACCEPTED_HASHES.has(hash.toUpperCase()))
    throw new CsrSignatureError(`signature algorithm must use SHA-256, SHA-384 or SHA-512`);
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrSignatureError();

  const spiffeId = csrSpiffeId(csr);
  return { spiffeId, der, spki, publicKey: key, key: description };
}

function csrSpiffeId(csr: Pkcs10CertificateRequest): SpiffeId {
  let uris: string[];
  try {
    const sans = csr.extensions.filter((ext) => ext.type === SAN_OID);
    if (sans.length !== 1)
      throw new CsrIdentityError(`expected one subjectAltName extension, found ${sans.length}`);
    const [ext] = sans;
    const names =
      ext instanceof SubjectAlternativeNameExtension
        ? ext
        : new SubjectAlternativeNameExtension(ext?.rawData ?? new Uint8Array());
    uris = names.names.items.filter((n) => n.type === 'url').map((n) => n.value);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new MalformedInputError('CSR', 'unreadable subjectAltName extension', { cause: err });
  }
  if (uris.length !== 1)
    throw new CsrIdentityError(`an X.509-SVID carries exactly one URI SAN; the CSR has ${uris.length}`);
  try {
    return parseSpiffeId(uris[0] ?? '');
  } catch (err) {
    throw new CsrIdentityError(
      `the URI SAN is not a valid SPIFFE ID: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
