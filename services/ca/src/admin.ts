import { loadConfig } from '@warden/runtime';
import { caConfig, resolveSettings } from './config.ts';
import { localKms } from './kms.ts';
import { initTrustDomain, loadTrustDomain, rotateTrustDomain } from './state.ts';
import type { Rotation, StateOptions, TrustDomainMaterial } from './state.ts';
import { TrustDomain } from './trust-domain.ts';

/**
 * The offline operations on a CA's state folder, for `warden ca init|rotate` run on the CA's
 * host: the same environment as the CA (WARDEN_CA_DIR, WARDEN_CA_KEK or WARDEN_CA_KEK_FILE,
 * WARDEN_TRUST_DOMAIN, ...), with command-line flags taking precedence.
 */
const adminConfig = caConfig.pick({
  WARDEN_CA_DIR: true,
  WARDEN_CA_KEK: true,
  WARDEN_CA_KEK_FILE: true,
  WARDEN_TRUST_DOMAIN: true,
  WARDEN_CA_KEY_ALGORITHM: true,
  WARDEN_CA_ROOT_TTL_DAYS: true,
  WARDEN_CA_INTERMEDIATE_TTL_DAYS: true,
  WARDEN_CA_NAME_CONSTRAINTS: true,
  WARDEN_CA_MAX_TTL_SECONDS: true,
});

export type AdminSettings = StateOptions & { readonly maxLeafTtlSeconds: number };

/** Settings from `env`, where the flags' values (already named as the variables) win. */
export function adminSettings(env: NodeJS.ProcessEnv, flags: NodeJS.ProcessEnv = {}): AdminSettings {
  const merged: NodeJS.ProcessEnv = { ...env };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  // One source of the KEK: a flag's file replaces an environment value of either kind.
  if (flags['WARDEN_CA_KEK_FILE'] !== undefined) delete merged['WARDEN_CA_KEK'];
  const config = loadConfig('ca', adminConfig, merged);
  const { kek } = resolveSettings({
    ...config,
    // Leaf TTLs matter here only as the maximum, which decides when an old root leaves the bundle.
    WARDEN_CA_DEFAULT_TTL_SECONDS: config.WARDEN_CA_MAX_TTL_SECONDS,
    WARDEN_CA_KUBECONFIG: undefined,
    WARDEN_CA_K8S_IN_CLUSTER: false,
    WARDEN_CA_K8S_AUDIENCES: undefined,
  });
  return {
    dir: config.WARDEN_CA_DIR,
    kms: localKms(kek),
    trustDomain: config.WARDEN_TRUST_DOMAIN,
    algorithm: config.WARDEN_CA_KEY_ALGORITHM,
    rootTtlDays: config.WARDEN_CA_ROOT_TTL_DAYS,
    intermediateTtlDays: config.WARDEN_CA_INTERMEDIATE_TTL_DAYS,
    nameConstraints: config.WARDEN_CA_NAME_CONSTRAINTS,
    maxLeafTtlSeconds: config.WARDEN_CA_MAX_TTL_SECONDS,
  };
}

export type GenerationSummary = {
  readonly id: number;
  readonly subject: string;
  readonly serial: string;
  readonly notAfter: string;
};

export type TrustDomainSummary = {
  readonly trustDomain: string;
  readonly algorithm: string;
  readonly dir: string;
  readonly bundleSequence: number;
  readonly bundleRoots: readonly GenerationSummary[];
  readonly activeIntermediate: GenerationSummary;
  readonly intermediates: readonly (GenerationSummary & {
    readonly root: number;
    readonly activateAt: string;
    readonly state: 'active' | 'scheduled' | 'retired, trusted' | 'retired';
  })[];
};

/** What the folder holds and, with the CA's maximum leaf TTL, which generations serve when. */
export function summarise(
  material: TrustDomainMaterial,
  settings: AdminSettings,
  now = Date.now(),
): TrustDomainSummary {
  const view = new TrustDomain(material, settings.maxLeafTtlSeconds);
  const active = view.active(now);
  const live = new Set(view.liveIntermediates(now).map((i) => i.id));
  const describe = (g: {
    id: number;
    issuer: { certificate: { subject: string; serialNumber: string } };
    notAfter: Date;
  }): GenerationSummary => ({
    id: g.id,
    subject: g.issuer.certificate.subject,
    serial: g.issuer.certificate.serialNumber.toLowerCase(),
    notAfter: g.notAfter.toISOString(),
  });
  const bundle = view.bundle(now);
  return {
    trustDomain: material.trustDomain,
    algorithm: material.algorithm,
    dir: settings.dir,
    bundleSequence: bundle.sequence,
    bundleRoots: view.bundleRoots(now).map(describe),
    activeIntermediate: describe(active),
    intermediates: material.intermediates.map((i) => ({
      ...describe(i),
      root: i.root,
      activateAt: i.activateAt.toISOString(),
      state:
        i.id === active.id
          ? 'active'
          : i.activateAt.getTime() > now
            ? 'scheduled'
            : live.has(i.id)
              ? 'retired, trusted'
              : 'retired',
    })),
  };
}

export async function initCa(settings: AdminSettings): Promise<TrustDomainSummary> {
  return summarise(await initTrustDomain(settings), settings);
}

export async function rotateCa(
  settings: AdminSettings,
  rotation: { newRoot: boolean; activateAt: Date },
): Promise<{ rotation: Omit<Rotation, 'material'>; summary: TrustDomainSummary }> {
  const { material, ...rest } = await rotateTrustDomain({ ...settings, ...rotation });
  return { rotation: rest, summary: summarise(material, settings) };
}

export async function describeCa(settings: AdminSettings): Promise<TrustDomainSummary> {
  return summarise(await loadTrustDomain(settings), settings);
}
