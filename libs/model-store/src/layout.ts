import { WardenError } from '@warden/core';
import { z } from 'zod';

/**
 * How a trained model is laid out in the object store `warden-models`: one object per version,
 * named `<model>/v<version>` (zero-padded, so names sort by version), its bytes the model itself
 * (`BehaviourModel.toBytes`), and everything needed to choose between versions in the object's
 * metadata: the training window, what it was trained on, how well it forecasts held-back windows,
 * and whether an operator approved it. Only approved versions are ever used by the detector.
 */

export const ModelStatus = { candidate: 'candidate', approved: 'approved' } as const;
export type ModelStatus = (typeof ModelStatus)[keyof typeof ModelStatus];

/** The behaviour baseline's name; the only model the detector runs today. */
export const BEHAVIOUR_MODEL = 'behaviour';

const isoTime = z.string().refine((v) => Number.isFinite(Date.parse(v)), 'an ISO time');

/** What a version's metadata holds, under the key `warden-model` (JSON). */
export const modelMeta = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  version: z.number().int().positive(),
  trainedAt: isoTime,
  /** The feature windows it learned from: their first start and last end. */
  trainedFrom: isoTime,
  trainedUntil: isoTime,
  windowSeconds: z.number().int().positive(),
  /** Workloads it has a normalisation for. */
  keys: z.number().int().nonnegative(),
  trainingWindows: z.number().int().nonnegative(),
  features: z.array(z.string().max(128)).min(1).max(256),
  lookback: z.number().int().positive(),
  epochs: z.number().int().positive(),
  /** The last training loss, and the forecast error's median and 99th percentile on held-back windows. */
  loss: z.number().nonnegative(),
  heldOutErrorP50: z.number().nonnegative(),
  heldOutErrorP99: z.number().nonnegative(),
  seed: z.number().int(),
  /** Who trained it (the CLI's identity and host). */
  trainedBy: z.string().max(256),
});
export type ModelMeta = z.infer<typeof modelMeta>;

const approval = z.object({
  approvedAt: isoTime,
  approvedBy: z.string().max(256),
  reason: z.string().max(1024),
});
export type ModelApproval = z.infer<typeof approval>;

/** One stored version as read back: its metadata, its approval if any, and the object's facts. */
export type ModelVersion = ModelMeta & {
  status: ModelStatus;
  approval?: ModelApproval;
  object: string;
  bytes: number;
  digest: string;
  storedAt: string;
};

export class ModelStoreError extends WardenError {}

export const META_KEY = 'warden-model';
export const APPROVAL_KEY = 'warden-approval';

export const objectName = (name: string, version: number): string =>
  `${name}/v${String(version).padStart(6, '0')}`;

/**
 * A stored object's metadata as a version, or the reason it is not one (hand-written objects,
 * damaged metadata): such objects are reported and skipped, never loaded.
 */
export function versionOf(info: {
  name: string;
  size: number;
  digest: string;
  mtime: string;
  metadata?: Record<string, string>;
}): ModelVersion | { invalid: string } {
  const raw = info.metadata?.[META_KEY];
  if (raw === undefined) return { invalid: `${info.name}: no ${META_KEY} metadata` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { invalid: `${info.name}: ${META_KEY} is not JSON` };
  }
  const meta = modelMeta.safeParse(parsed);
  if (!meta.success)
    return { invalid: `${info.name}: ${meta.error.issues[0]?.message ?? 'invalid metadata'}` };
  if (objectName(meta.data.name, meta.data.version) !== info.name)
    return { invalid: `${info.name}: its metadata names ${objectName(meta.data.name, meta.data.version)}` };
  const version: ModelVersion = {
    ...meta.data,
    status: ModelStatus.candidate,
    object: info.name,
    bytes: info.size,
    digest: info.digest,
    storedAt: info.mtime,
  };
  const approvalRaw = info.metadata?.[APPROVAL_KEY];
  if (approvalRaw !== undefined) {
    try {
      const approved = approval.safeParse(JSON.parse(approvalRaw));
      if (approved.success) {
        version.status = ModelStatus.approved;
        version.approval = approved.data;
      }
    } catch {
      // A damaged approval approves nothing.
    }
  }
  return version;
}

/** The version the detector should run: the approved one with the highest number. */
export function newestApproved(
  versions: readonly ModelVersion[],
  name = BEHAVIOUR_MODEL,
): ModelVersion | undefined {
  let best: ModelVersion | undefined;
  for (const v of versions)
    if (v.name === name && v.status === ModelStatus.approved && (!best || v.version > best.version)) best = v;
  return best;
}
