import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@warden/runtime';
import type { TrustDomain } from '@warden/trust-domain';
import type { ServedCrl } from './crls.ts';

/**
 * The trust bundle and the CRL over plain HTTP, for consumers that do not speak NATS (HAProxy's
 * `ca-file`/`crl-file` fetched by a sidecar, `curl` in a runbook). Public data only; GET only; no
 * request body is ever read. A separate listener from the ops endpoints, which the runtime owns.
 *
 *   GET /v1/bundle.pem   the roots, PEM (two during a root rotation)
 *   GET /v1/bundle.json  { trustDomain, sequence, rootsPem }, as warden.ca.v1.bundle answers
 *   GET /v1/crl          the active intermediate's CRL of revoked SVIDs, DER (application/pkix-crl)
 *   GET /v1/crl.pem      the roots' CRLs then every live intermediate's, PEM: whole chains' CRLs
 *
 * Every replica serves the CRLs the lease holder stored last (`CrlStore`), read per request: a
 * peer that fetches after a revocation event gets the CRL that lists it, whichever replica
 * answers.
 */
export async function startHttpApi(options: {
  host: string;
  port: number;
  trustDomain: TrustDomain;
  crls: { current(): Promise<ServedCrl | null> };
  log: Logger;
}): Promise<{ port: number; close(): Promise<void> }> {
  const { trustDomain, crls, log } = options;
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
        crls.current().then(
          (c) => {
            // Fail closed and visibly: no CRL until the lease holder has signed one.
            if (!c) return send(503, 'text/plain', 'CRL unavailable: no CA replica has signed one yet\n');
            return path === '/v1/crl'
              ? send(200, 'application/pkix-crl', c.der)
              : send(200, 'application/x-pem-file', c.pem);
          },
          (err: unknown) => {
            log.error({ err }, 'cannot read the CRL');
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
