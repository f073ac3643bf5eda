import type { KV } from '@nats-io/kv';
import { isWrongLastSequence } from '@warden/events';
import { BACKDATE_MS, createCrl, toPem } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import type { TrustDomain } from '@warden/trust-domain';
import { z } from 'zod';
import { CaError } from './errors.ts';
import type { IssuedIndex } from './issued-index.ts';

/**
 * Peers that fetch the CRL must fetch again within this. Agents fetch again right after every
 * revocation event, so this only bounds how long peers keep working while no CA signs: past it,
 * a TLS stack that checks CRLs refuses every peer (fail closed), so it is as long as an SVID.
 */
const CRL_NEXT_UPDATE_MS = 24 * 3_600_000;
/** The holder signs again this often with nothing revoked, well inside `CRL_NEXT_UPDATE_MS`. */
export const CRL_REFRESH_MS = 3_600_000;
const KEY = 'current';
const CAS_ATTEMPTS = 5;

/** What every CA replica serves: the active intermediate's CRL, and the whole chain's in PEM. */
export type ServedCrl = { number: number; der: Buffer; pem: string };

const stored = z.object({
  number: z.number().int().positive(),
  signedAt: z.string(),
  /** The active intermediate's CRL, DER in base64. */
  active: z.string().min(1),
  /** The roots' CRLs, then every live intermediate's, DER in base64. */
  chain: z.array(z.string().min(1)).min(1),
});

/**
 * The CRLs in the KV bucket `warden-ca-crl`, under one key. The CRL number is the revision the
 * CRLs are stored under: a write is a compare-and-set on the previous revision, so a number is
 * never used twice, numbers only grow, and a deposed lease holder cannot overwrite CRLs signed
 * after its own.
 */
export class CrlStore {
  private readonly kv: KV;

  constructor(kv: KV) {
    this.kv = kv;
  }

  async current(): Promise<ServedCrl | null> {
    const entry = await this.kv.get(KEY);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
    const parsed = stored.safeParse(entry.json());
    if (!parsed.success) throw new CaError('crl_unavailable', 'the stored CRL is malformed');
    const chain = parsed.data.chain.map((b64) => Buffer.from(b64, 'base64'));
    return {
      number: parsed.data.number,
      der: Buffer.from(parsed.data.active, 'base64'),
      pem: chain.map((der) => toPem('X509 CRL', der)).join(''),
    };
  }

  /** Signs CRLs with the next number and stores them; signs again if another write came first. */
  async replace(sign: (number: number) => Promise<{ active: Buffer; chain: Buffer[] }>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const entry = await this.kv.get(KEY);
      const previous = entry?.revision ?? 0;
      const number = previous + 1;
      const crls = await sign(number);
      const value = JSON.stringify({
        number,
        signedAt: new Date().toISOString(),
        active: crls.active.toString('base64'),
        chain: crls.chain.map((der) => der.toString('base64')),
      } satisfies z.infer<typeof stored>);
      try {
        if (entry) await this.kv.update(KEY, value, previous);
        else await this.kv.create(KEY, value);
        return number;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }
}

/**
 * Signs the CRLs from the issued index while this replica holds the CA lease: when it takes the
 * lease, after every revocation and rotation, and every `CRL_REFRESH_MS`. One signing at a time;
 * a request during one signs again right after it, so the last revocation is always covered.
 */
export class CrlIssuer {
  private readonly options: {
    trustDomain: TrustDomain;
    index: IssuedIndex;
    store: CrlStore;
    lease: { readonly held: boolean };
    log: Logger;
  };
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: CrlIssuer['options']) {
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => void this.reissue(), CRL_REFRESH_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Signs and stores new CRLs if this replica holds the lease; resolves once they are stored. */
  reissue(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.signAndStore()
      .catch((err: unknown) => this.options.log.error({ err }, 'CRL not signed; the stored one is served'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.reissue();
        }
      });
    return this.running;
  }

  private async signAndStore(): Promise<void> {
    const { trustDomain, index, store, lease, log } = this.options;
    if (!lease.held) return;
    const entries = await index.revokedEntries();
    const nextUpdate = new Date(Date.now() + CRL_NEXT_UPDATE_MS);
    // Backdated as certificates are: a peer whose clock lags accepts a fresh CRL at once.
    const thisUpdate = new Date(Date.now() - BACKDATE_MS);
    const number = await store.replace(async (number) => {
      // Checked again after the index read: a holder that lost the lease meanwhile signs nothing.
      if (!lease.held) throw new CaError('crl_unavailable', 'the CA lease was lost before signing');
      // Every live intermediate lists every revoked serial: the index does not say which
      // generation signed a serial, and a serial in another issuer's CRL harms nothing.
      const active = trustDomain.active();
      const intermediates = await Promise.all(
        trustDomain.liveIntermediates().map(async (i) => ({
          id: i.id,
          der: (await createCrl({ issuer: i.issuer, entries, thisUpdate, nextUpdate, number })).der,
        })),
      );
      // The roots' CRLs, for stacks that check the whole chain (node:tls with `crl` sets
      // OpenSSL's CRL_CHECK_ALL and refuses without them), listing intermediates withdrawn by
      // a rotation.
      const withdrawn = trustDomain.withdrawnIntermediates();
      const roots = await Promise.all(
        trustDomain.bundleRoots().map(
          async (r) =>
            (
              await createCrl({
                issuer: r.issuer,
                entries: withdrawn
                  .filter((w) => w.intermediate.root === r.id)
                  .map((w) => ({
                    serial: w.intermediate.issuer.certificate.serialNumber.toLowerCase(),
                    revokedAt: w.since,
                  })),
                thisUpdate,
                nextUpdate,
                number,
              })
            ).der,
        ),
      );
      const der = intermediates.find((i) => i.id === active.id)?.der;
      if (!der) throw new CaError('crl_unavailable', `no CRL for the active intermediate ${active.id}`);
      return { active: der, chain: [...roots, ...intermediates.map((i) => i.der)] };
    });
    log.info({ number, revoked: entries.length }, 'CRLs signed');
  }
}
