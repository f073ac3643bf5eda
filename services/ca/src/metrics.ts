import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { TrustDomain } from '@warden/trust-domain';

/** The CA's own metrics, registered in the service's registry. */
export type CaMetrics = ReturnType<typeof createCaMetrics>;

/** The gauges read the trust domain's generations when scraped. */
export function createCaMetrics(registry: Registry, trustDomain: TrustDomain) {
  const registers = [registry];
  new Gauge({
    name: 'warden_ca_active_intermediate_expiry_seconds',
    help: 'Seconds until the intermediate that signs now expires (rotate well before 0).',
    registers,
    collect() {
      this.set((trustDomain.active().notAfter.getTime() - Date.now()) / 1000);
    },
  });
  new Gauge({
    name: 'warden_ca_bundle_roots',
    help: 'Roots in the trust bundle (2 while a root rotation is under way).',
    registers,
    collect() {
      this.set(trustDomain.bundleRoots().length);
    },
  });
  return {
    issued: new Counter({
      name: 'warden_ca_issued_total',
      help: 'SVIDs issued, by attestation method.',
      labelNames: ['method'] as const,
      registers,
    }),
    refused: new Counter({
      name: 'warden_ca_sign_refused_total',
      help: 'Sign requests refused, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    leaseHeld: new Gauge({
      name: 'warden_ca_lease_held',
      help: '1 while this replica holds the CA lease: it signs CRLs, publishes the bundle and revokes.',
      registers,
    }),
    leaseChanges: new Counter({
      name: 'warden_ca_lease_changes_total',
      help: 'Times this replica took or lost the CA lease.',
      labelNames: ['change'] as const,
      registers,
    }),
    reloads: new Counter({
      name: 'warden_ca_manifest_reloads_total',
      help: 'Reloads of the CA manifest after a rotation, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
