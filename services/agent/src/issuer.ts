import type { Bus } from '@warden/events';
import { caSign } from '@warden/events';
import type { DataOf } from '@warden/events';
import {
  createCsr,
  decodePem,
  exportPrivateKeyPem,
  generateKeyPair,
  MAX_CSR_BYTES,
  renewalProof,
} from '@warden/pki';
import type { Entry } from './entries.ts';
import { NoEvidenceError } from './errors.ts';
import type { Bundle, Svid } from './svid.ts';
import { chainText, checkSvid } from './svid.ts';

type Evidence = DataOf<typeof caSign>['evidence'];

export type Issued = { readonly svid: Svid; readonly kind: 'bootstrap' | 'renewal' };

/**
 * The evidence for one request: the current SVID while it is valid (renewal, ARCHITECTURE §3), else the
 * entry's join token if it has not been spent. The proof is made over the exact DER the CA will
 * verify (`svidAttestor` checks it against `csr.der`, the decoded csrPem), with the current key.
 */
async function evidenceFor(
  entry: Entry,
  current: Svid | null,
  spentToken: string | undefined,
  csrDer: Buffer,
  now: Date,
): Promise<Evidence> {
  if (current && current.notAfter > now)
    return { type: 'svid', chainPem: chainText(current), signature: await renewalProof(csrDer, current.key) };
  if (entry.joinToken && entry.joinToken !== spentToken)
    return { type: 'join-token', token: entry.joinToken };
  throw new NoEvidenceError(entry.spiffeId);
}

/**
 * Obtains a new SVID for an entry: a fresh key made here (it never leaves the host; only the CSR
 * goes to the CA), a CSR for the entry's SPIFFE ID, the evidence, then `warden.ca.v1.sign`. The
 * reply is checked (identity, key, validity, chain to the bundle) before anything uses it.
 */
export async function obtainSvid(options: {
  bus: Bus;
  entry: Entry;
  current: Svid | null;
  spentToken: string | undefined;
  bundle: Bundle;
  timeoutMs: number;
}): Promise<Issued> {
  const { entry } = options;
  const keys = await generateKeyPair(entry.keyAlgorithm);
  const csrPem = await createCsr(keys, entry.spiffeId);
  const [csrDer] = decodePem(csrPem, 'CERTIFICATE REQUEST', 'CSR', { maxBytes: MAX_CSR_BYTES, maxBlocks: 1 });
  if (!csrDer) throw new Error('createCsr produced no PEM block');
  const evidence = await evidenceFor(entry, options.current, options.spentToken, csrDer, new Date());
  const reply = await options.bus.request(
    caSign,
    { csrPem, evidence, ...(entry.ttlSeconds ? { ttlSeconds: entry.ttlSeconds } : {}) },
    { timeoutMs: options.timeoutMs },
  );
  const svid = checkSvid({
    spiffeId: entry.spiffeId,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    chainPem: reply.chainPem,
    bundle: options.bundle,
    obtainedAt: new Date(),
  });
  return { svid, kind: evidence.type === 'svid' ? 'renewal' : 'bootstrap' };
}
