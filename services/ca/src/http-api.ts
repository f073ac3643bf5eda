import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BACKDATE_MS, createCrl } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import { CaError } from './errors.ts';
import type { IssuedIndex } from './issued-index.ts';
import type { TrustDomain } from '@warden/trust-domain';

/** A CRL is re-signed at most this often; a revocation invalidates it at once. */
const CRL_CACHE_MS = 10_000;
/**
 * Peers that fetch the CRL must fetch again within this. Agents fetch again right after every
 * revocation event, so this only bounds how long peers keep working while the CA is away: past
 * it, a TLS stack that checks CRLs refuses every peer (fail closed), so it is as long as an SVID.
 */
const CRL_NEXT_UPDATE_MS = 24 * 3_600_000;

export type CrlCache = { get(): Promise<{ der: Buffer; pem: string }>; invalidate(): void };

export function crlCache(trustDomain: TrustDomain, index: IssuedIndex): CrlCache {
  let cached: { at: number; crl: Promise<{ der: Buffer; pem: string }> } | undefined;
  return {
    get: () => {
      if (!cached || Date.now() - cached.at > CRL_CACHE_MS) {
        const nextUpdate = new Date(Date.now() + CRL_NEXT_UPDATE_MS);
        // Backdated as certificates are: a peer whose clock lags accepts a fresh CRL at once.
        const thisUpdate = new Date(Date.now() - BACKDATE_MS);
        const crl = index.revokedEntries().then(async (entries) => {
          // Every live intermediate lists every revoked serial: the index does not say which
          // generation signed a serial, and a serial in another issuer's CRL harms nothing.
          const active = trustDomain.active();
          const intermediates = await Promise.all(
            trustDomain.liveIntermediates().map(async (i) => ({
              id: i.id,
              crl: await createCrl({ issuer: i.issuer, entries, thisUpdate, nextUpdate }),
            })),
          );
          // The roots' CRLs, for stacks that check the whole chain (node:tls with `crl` sets
          // OpenSSL's CRL_CHECK_ALL and refuses without them), listing intermediates withdrawn
          // by a rotation.
          const withdrawn = trustDomain.withdrawnIntermediates();
          const roots = await Promise.all(
            trustDomain.bundleRoots().map((r) =>
              createCrl({
                issuer: r.issuer,
                entries: withdrawn
                  .filter((w) => w.intermediate.root === r.id)
                  .map((w) => ({
                    serial: w.intermediate.issuer.certificate.serialNumber.toLowerCase(),
                    revokedAt: w.since,
                  })),
                thisUpdate,
                nextUpdate,
              }),
            ),
          );
          const der = intermediates.find((i) => i.id === active.id)?.crl.der;
          if (!der) throw new CaError('crl_unavailable', `no CRL for the active intermediate ${active.id}`);
          return { der, pem: [...roots.map((c) => c.pem), ...intermediates.map((i) => i.crl.pem)].join('') };
        });
        // A failure is not cached: the next request tries again.
        crl.catch(() => {
          cached = undefined;
        });
        cached = { at: Date.now(), crl };
      }
      return cached.crl;
    },
    invalidate: () => {
      cached = undefined;
    },
  };
}

/**
 * The trust bundle and the CRL over plain HTTP, for consumers that do not speak NATS (HAProxy's
 * `ca-file`/`crl-file` fetched by a sidecar, `curl` in a runbook). Public data only; GET only; no
 * request body is ever read. A separate listener from the ops endpoints, which the runtime owns.
 *
 *   GET /v1/bundle.pem   the roots, PEM (two during a root rotation)
 *   GET /v1/bundle.json  { trustDomain, sequence, rootsPem }, as warden.ca.v1.bundle answers
 *   GET /v1/crl          the active intermediate's CRL of revoked SVIDs, DER (application/pkix-crl)
 *   GET /v1/crl.pem      the roots' CRLs then every live intermediate's, PEM: whole chains' CRLs
 */
export async function startHttpApi(options: {
  host: string;
  port: number;
  trustDomain: TrustDomain;
  crl: CrlCache;
  log: Logger;
}): Promise<{ port: number; close(): Promise<void> }> {
  const { trustDomain, crl, log } = options;
  const server: Server = createServer((req, res) => {
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'GET only\n');
    const path = (req.url ?? '').split('?')[0];
    switch (path) {
      case '/v1/bundle.pem':
        return send(200, 'application/x-pem-file', trustDomain.bundle().rootsPem.join(''));
      case '/v1/bundle.json':
        return send(200, 'application/json', JSON.stringify(trustDomain.bundle()));
      case '/v1/crl':
      case '/v1/crl.pem':
        crl.get().then(
          (c) =>
            path === '/v1/crl'
              ? send(200, 'application/pkix-crl', c.der)
              : send(200, 'application/x-pem-file', c.pem),
          (err: unknown) => {
            // Fail closed and visibly: no CRL rather than a stale or empty one.
            log.error({ err }, 'cannot build the CRL');
            send(503, 'text/plain', 'CRL unavailable\n');
          },
        );
        return;
      default:
        return send(404, 'text/plain', 'not found\n');
    }
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ url: `http://${options.host}:${port}/v1/bundle.pem` }, 'bundle and CRL served over HTTP');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
