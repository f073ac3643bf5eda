import { messageOf } from '@warden/core';
import type { ParsedCrl } from '@warden/pki';
import { CrlSigner, crlSigner, MAX_CRL_BLOCKS, parseCrls, PkiError, X509Crl } from '@warden/pki';
import { CrlError, CrlProblem } from './errors.ts';

/**
 * A CA's CRL file: one CRL per root and live intermediate, each listing every revoked serial.
 * 100 000 revoked serials come to about 5 MiB of PEM; the limit leaves room several times over.
 */
export const MAX_CRL_FILE_BYTES = 32 * 1024 * 1024;

/** CRLs the agent accepted, as crl.pem holds them. */
export type Crl = {
  /** The validated blocks re-encoded, roots' first as the CA sent them: nothing else reaches the file. */
  readonly pem: string;
  /** The oldest block's thisUpdate: how old the information is. */
  readonly thisUpdate: Date;
  /** The earliest block's nextUpdate: when TLS stacks start refusing the file. */
  readonly nextUpdate: Date;
  /** Every serial any block lists. */
  readonly serials: ReadonlySet<string>;
  /** Each block's thisUpdate by issuer (name and key identifier): no later file may go back. */
  readonly issuers: ReadonlyMap<string, Date>;
};

/** Certificates a CRL may be signed by: the bundle's roots and the intermediates of held SVIDs. */
export type CrlTrust = {
  readonly trustDomain: string;
  readonly roots: readonly string[];
  readonly intermediates: readonly string[];
};

/**
 * GETs the CRL file: status 200, no redirects, at most `maxBytes` (counted as it arrives, so an
 * endless body is cut off), within `timeoutMs` for the whole exchange.
 */
export async function fetchCrlText(
  url: string,
  options: { timeoutMs: number; maxBytes?: number },
): Promise<string> {
  const maxBytes = options.maxBytes ?? MAX_CRL_FILE_BYTES;
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await fetch(url, { signal, redirect: 'error' });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new CrlError(CrlProblem.unavailable, `${url} answered HTTP ${response.status}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (!response.body) return '';
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      // Leaving the loop cancels the stream: the rest of the body is never read.
      if (size > maxBytes) throw new CrlError(CrlProblem.invalid, `${url} sent more than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof CrlError) throw err;
    throw new CrlError(CrlProblem.unavailable, `cannot fetch ${url}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * How the CA names its intermediates (`createIntermediateCertificate` of @warden/pki): the trust
 * domain, the generation from the second on, the day it was made.
 */
function intermediateNameOf(trustDomain: string): RegExp {
  const domain = trustDomain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^CN=Warden intermediate CA ${domain}(?: G[1-9][0-9]*)? [0-9]{4}-[0-9]{2}-[0-9]{2}, O=Warden$`,
  );
}

const AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';

/**
 * The issuer a CRL speaks for: its name (DER) and the key identifier it names (AKI), as a CA that
 * rotated its key may keep its name. Both are inside the signed data.
 */
function issuerOf(block: ParsedCrl): string {
  const crl = new X509Crl(block.der);
  const aki = crl.extensions.find((e) => e.type === AUTHORITY_KEY_IDENTIFIER);
  const name = Buffer.from(crl.issuerName.toArrayBuffer()).toString('hex');
  return `${name}/${aki ? Buffer.from(aki.value).toString('hex') : ''}`;
}

/**
 * Accepts a CRL file only as TLS stacks would use it, so a bad one never replaces a good one:
 * PEM CRLs and nothing else; every one current now (OpenSSL refuses an expired or not yet valid
 * CRL, and with it every handshake); at least one signed by a root of the bundle (the URL serves
 * this trust domain); each signed by the known root or intermediate of its name, or else named as
 * this trust domain's intermediates are; one per issuer; and none older than the `held` one of
 * its issuer (a genuine CRL from before a revocation, replayed or cached, would undo it).
 */
export async function checkCrl(
  text: string,
  trust: CrlTrust | null,
  held: Crl | null = null,
  now: Date = new Date(),
): Promise<Crl> {
  let blocks: ParsedCrl[];
  try {
    blocks = parseCrls(text, 'the CRL file', { maxBytes: MAX_CRL_FILE_BYTES, maxBlocks: MAX_CRL_BLOCKS });
  } catch (err) {
    if (err instanceof PkiError) throw new CrlError(CrlProblem.invalid, err.message, { cause: err });
    throw err;
  }
  for (const block of blocks) {
    if (!block.nextUpdate)
      throw new CrlError(CrlProblem.notCurrent, `the CRL of ${block.issuer} has no nextUpdate`);
    if (block.nextUpdate <= now)
      throw new CrlError(
        CrlProblem.notCurrent,
        `the CRL of ${block.issuer} expired at ${block.nextUpdate.toISOString()}`,
      );
    if (block.thisUpdate > now)
      throw new CrlError(
        CrlProblem.notCurrent,
        `the CRL of ${block.issuer} is valid only from ${block.thisUpdate.toISOString()}`,
      );
  }
  if (!trust) throw new CrlError(CrlProblem.untrusted, 'no trust bundle yet to check the CRL against');
  const intermediateName = intermediateNameOf(trust.trustDomain);
  let byRoot = false;
  for (const block of blocks) {
    let signer = await crlSigner(block, trust.roots);
    if (signer === CrlSigner.signed) byRoot = true;
    else if (signer === CrlSigner.unknownIssuer) signer = await crlSigner(block, trust.intermediates);
    if (signer === CrlSigner.badSignature)
      throw new CrlError(CrlProblem.untrusted, `the CRL of ${block.issuer} is not signed by that CA`);
    // The bundle holds roots only, so an intermediate the agent has no SVID from cannot be
    // checked here; after a rotation its CRL is served before any leaf from it exists. Refusing
    // the file would stop every revocation reaching crl.pem until a renewal, and leaving the
    // block out would make CRL-checking peers refuse every leaf it signs (no CRL for its issuer).
    // So it is taken if named as this trust domain's intermediates are, in a file a root signed
    // too: a forged one cannot un-revoke anything, since the TLS stack verifies it against the
    // peer's chain and refuses the handshake on a bad signature, a refusal whoever can alter the
    // file could cause anyway by dropping the block. A root the bundle lacks is refused: the
    // bundle event that adds it fetches the CRL again.
    if (signer === CrlSigner.unknownIssuer && !intermediateName.test(block.issuer))
      throw new CrlError(
        CrlProblem.untrusted,
        `the CRL of ${block.issuer} is from no CA the agent knows and not named as this trust domain's intermediates are`,
      );
  }
  if (!byRoot)
    throw new CrlError(
      CrlProblem.untrusted,
      'no CRL signed by a root of the trust bundle: the URL does not serve this trust domain',
    );
  const issuers = new Map<string, Date>();
  for (const block of blocks) {
    const issuer = issuerOf(block);
    // With two CRLs of one issuer a TLS stack may use either: an old one next to the new one
    // would un-revoke as surely as the old one alone.
    if (issuers.has(issuer))
      throw new CrlError(CrlProblem.invalid, `the file holds two CRLs of ${block.issuer}`);
    issuers.set(issuer, block.thisUpdate);
    const heldSince = held?.issuers.get(issuer);
    if (heldSince && block.thisUpdate < heldSince)
      throw new CrlError(
        CrlProblem.olderThanHeld,
        `the CRL of ${block.issuer} is from ${block.thisUpdate.toISOString()}, older than the one held (${heldSince.toISOString()})`,
      );
  }
  const serials = new Set<string>();
  for (const block of blocks) for (const serial of block.serials) serials.add(serial);
  const time = (pick: (b: ParsedCrl) => Date): Date =>
    new Date(Math.min(...blocks.map((b) => pick(b).getTime())));
  return {
    pem: blocks.map((b) => b.pem).join(''),
    thisUpdate: time((b) => b.thisUpdate),
    nextUpdate: time((b) => b.nextUpdate ?? now),
    serials,
    issuers,
  };
}
