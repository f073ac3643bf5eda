import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export type AgentMetrics = {
  readonly certificates: Gauge;
  readonly rotations: Counter<'kind'>;
  readonly caFailures: Counter<'code'>;
  readonly revocations: Counter;
  readonly crlFetches: Counter;
  readonly crlFailures: Counter<'code'>;
};

/**
 * The agent's metrics. Seconds to expiry and the CRL's age are computed at scrape time from what
 * is held, so they are exact whenever they are read and an identity that is dropped disappears
 * from them at once.
 */
export function createAgentMetrics(
  registry: Registry,
  expiries: () => Iterable<{ spiffeId: string; notAfter: Date }>,
  crlIssuedAt: () => Date | null,
): AgentMetrics {
  const registers = [registry];
  new Gauge({
    name: 'warden_agent_crl_age_seconds',
    help: 'Seconds since the CA issued the CRL in crl.pem (its oldest thisUpdate); absent until there is one.',
    registers,
    collect() {
      this.reset();
      const issuedAt = crlIssuedAt();
      if (issuedAt) this.set(Math.max(0, (Date.now() - issuedAt.getTime()) / 1000));
    },
  });
  new Gauge({
    name: 'warden_agent_certificate_expiry_seconds',
    help: 'Seconds until each held SVID expires.',
    labelNames: ['spiffe_id'],
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const { spiffeId, notAfter } of expiries())
        this.set({ spiffe_id: spiffeId }, Math.max(0, (notAfter.getTime() - now) / 1000));
    },
  });
  return {
    certificates: new Gauge({
      name: 'warden_agent_certificates',
      help: 'X.509-SVIDs currently held and served.',
      registers,
    }),
    rotations: new Counter({
      name: 'warden_agent_rotations_total',
      help: 'SVIDs obtained from the CA, by kind: bootstrap (join token) or renewal (current SVID).',
      labelNames: ['kind'],
      registers,
    }),
    caFailures: new Counter({
      name: 'warden_agent_ca_request_failures_total',
      help: 'Failed requests to the CA, by error code.',
      labelNames: ['code'],
      registers,
    }),
    revocations: new Counter({
      name: 'warden_agent_revocations_total',
      help: 'Identities dropped because their SVID was revoked.',
      registers,
    }),
    crlFetches: new Counter({
      name: 'warden_agent_crl_fetches_total',
      help: 'CRL files fetched from WARDEN_AGENT_CRL_URL and accepted.',
      registers,
    }),
    crlFailures: new Counter({
      name: 'warden_agent_crl_failures_total',
      help: 'CRL refreshes that failed (the previous crl.pem stays), by error code.',
      labelNames: ['code'],
      registers,
    }),
  };
}
