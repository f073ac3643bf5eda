import type { Issuer } from './cert.ts';
import { MalformedInputError } from './errors.ts';
import { normaliseSerial } from './inspect.ts';
import { algorithmOfKey, signingParams } from './keys.ts';
import type { PemLimits } from './pem.ts';
import { decodePem, toPem } from './pem.ts';
import {
  AuthorityKeyIdentifierExtension,
  Extension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509Crl,
  X509CrlGenerator,
} from './x509.ts';

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
  /** RFC 5280's CRL number: grows with every CRL an issuer signs, so a relying party keeps the newest. */
  number?: number;
}): Promise<{ der: Buffer; pem: string }> {
  const ski = options.issuer.certificate.getExtension(SubjectKeyIdentifierExtension);
  const extensions: Extension[] = ski ? [new AuthorityKeyIdentifierExtension(ski.keyId)] : [];
  if (options.number !== undefined) extensions.push(crlNumberExtension(options.number));
  const crl = await X509CrlGenerator.create({
    issuer: options.issuer.certificate.subject,
    thisUpdate: options.thisUpdate ?? new Date(),
    nextUpdate: options.nextUpdate,
    signingKey: options.issuer.privateKey,
    signingAlgorithm: signingParams(algorithmOfKey(options.issuer.privateKey)),
    entries: options.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt })),
    extensions,
  });
  const der = Buffer.from(crl.rawData);
  return { der, pem: toPem('X509 CRL', der) };
}

const CRL_NUMBER_OID = '2.5.29.20';

/** CRLNumber ::= INTEGER (0..MAX), DER: big-endian, minimal, with a leading zero byte if the top bit is set. */
function crlNumberExtension(n: number): Extension {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`a CRL number is a non-negative integer (got ${n})`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  if (bytes.length === 0 || (bytes[0] ?? 0) >= 0x80) bytes.unshift(0);
  return new Extension(CRL_NUMBER_OID, false, Uint8Array.from([0x02, bytes.length, ...bytes]));
}

/** The CRL number of a DER CRL, or undefined when it has none. */
export function crlNumberOf(der: Uint8Array): number | undefined {
  const ext = new X509Crl(der).extensions.find((e) => e.type === CRL_NUMBER_OID);
  if (!ext) return undefined;
  const value = new Uint8Array(ext.value);
  let n = 0;
  for (const byte of value.subarray(2, 2 + (value[1] ?? 0))) n = n * 256 + byte;
  return n;
}

/** One CRL as read from PEM: what a relying party checks before it uses it. */
export type ParsedCrl = {
  readonly der: Buffer;
  readonly pem: string;
  readonly issuer: string;
  readonly thisUpdate: Date;
  /** Absent in the CRL itself is allowed by RFC 5280 but unusable offline; the caller decides. */
  readonly nextUpdate: Date | undefined;
  /** Revoked serials, normalised as `normaliseSerial` does. */
  readonly serials: ReadonlySet<string>;
};

/** A CA's CRL file holds one CRL per certificate authority in the chain: a handful, never dozens. */
export const MAX_CRL_BLOCKS = 16;

/** Parses PEM `X509 CRL` blocks (nothing else) within the limits; every block must be a CRL. */
export function parseCrls(text: string, what: string, limits: PemLimits): ParsedCrl[] {
  return decodePem(text, 'X509 CRL', what, limits).map((der) => {
    try {
      const crl = new X509Crl(der);
      return {
        der,
        pem: toPem('X509 CRL', der),
        issuer: crl.issuer,
        thisUpdate: crl.thisUpdate,
        nextUpdate: crl.nextUpdate,
        serials: new Set(crl.entries.map((e) => normaliseSerial(e.serialNumber))),
      };
    } catch (cause) {
      throw new MalformedInputError(what, 'not an X.509 CRL', { cause });
    }
  });
}

export const CrlSigner = {
  /** A certificate with the CRL's issuer name verifies its signature. */
  signed: 'signed',
  /** Certificates with the issuer's name were given, and none verifies the signature. */
  badSignature: 'bad_signature',
  /** No certificate given has the CRL's issuer name. */
  unknownIssuer: 'unknown_issuer',
} as const;
export type CrlSigner = (typeof CrlSigner)[keyof typeof CrlSigner];

/**
 * Whether one of `certificates` (PEM) signed the CRL. Names are compared as DER and every
 * certificate with the issuer's name is tried: a CA that rotated its key may keep its name.
 */
export async function crlSigner(parsed: ParsedCrl, certificates: readonly string[]): Promise<CrlSigner> {
  const crl = new X509Crl(parsed.der);
  const issuerName = Buffer.from(crl.issuerName.toArrayBuffer());
  let named = false;
  for (const pem of certificates) {
    const certificate = new X509Certificate(pem);
    if (!issuerName.equals(Buffer.from(certificate.subjectName.toArrayBuffer()))) continue;
    named = true;
    if (await crl.verify({ publicKey: certificate }).catch(() => false)) return CrlSigner.signed;
  }
  return named ? CrlSigner.badSignature : CrlSigner.unknownIssuer;
}
