import { initTrustDomain, loadTrustDomain, rotateTrustDomain } from './generations.ts';
import type { Rotation } from './generations.ts';
import type { TrustDomainMaterial } from './material.ts';
import type { FolderSettings } from './settings.ts';
import { TrustDomain } from './trust-domain.ts';

/**
 * The offline operations on a CA's folder, for `warden ca init|rotate|status --dir` run on the
 * CA's host, each answering with a summary of the generations.
 */
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
  settings: FolderSettings,
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

export async function initCa(settings: FolderSettings): Promise<TrustDomainSummary> {
  return summarise(await initTrustDomain(settings), settings);
}

export async function rotateCa(
  settings: FolderSettings,
  rotation: { newRoot: boolean; activateAt: Date },
): Promise<{ rotation: Omit<Rotation, 'material'>; summary: TrustDomainSummary }> {
  const { material, ...rest } = await rotateTrustDomain({ ...settings, ...rotation });
  return { rotation: rest, summary: summarise(material, settings) };
}

export async function describeCa(settings: FolderSettings): Promise<TrustDomainSummary> {
  return summarise(await loadTrustDomain(settings), settings);
}
