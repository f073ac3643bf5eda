import { createHash } from 'node:crypto';
import { bundleKinds } from '@warden/policy-engine';
import type { BundleKind } from '@warden/policy-engine';
import { z } from 'zod';

/**
 * The storage layout of policy revisions, shared by the policy service (the only writer) and
 * every decision point (readers):
 *
 * - KV `warden-policy`: `<kind>.<namespace>.<name>` → the revision that last changed that policy
 *   (ARCHITECTURE §2); `revision.active` and `revision.dryrun` → the revision in force and the one on
 *   trial; `revision.latest` → the last number handed out; `rollout.<decision-point>` → what
 *   that decision point applied; `submission.<id>` → the revision a submission produced.
 * - Object store `warden-bundles`: `bundle/<sha256>` compiled policies (`PolicyBundle` of
 *   `@warden/policy-engine`, canonical JSON), `source/<sha256>` their text, `manifest/<revision>`
 *   the whole set of one revision.
 */
export const kvKey = {
  /** The revision that last changed one policy. Names are kept as written (Istio allows dots). */
  policy: (kind: BundleKind, namespace: string, name: string): string => `${kind}.${namespace}.${name}`,
  active: 'revision.active',
  dryRun: 'revision.dryrun',
  latest: 'revision.latest',
  rollout: (decisionPoint: string): string => `rollout.${kvToken(decisionPoint)}`,
  /** Every decision point's `rollout` key, to watch them all. */
  rollouts: 'rollout.>',
  submission: (id: string): string => `submission.${kvToken(id)}`,
} as const;

/** One KV key token: characters outside the KV key alphabet become `_`, and no dots. */
const kvToken = (s: string): string => s.replace(/[^-_=a-zA-Z0-9]/g, '_');

export const objectName = {
  bundle: (digest: string): string => `bundle/${digest}`,
  source: (digest: string): string => `source/${digest}`,
  manifest: (revision: number): string => `manifest/${revision}`,
  /** The revision of a `manifest/<revision>` name; undefined for any other name. */
  manifestRevision: (name: string): number | undefined => {
    const match = /^manifest\/(\d+)$/.exec(name);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  },
} as const;

export const sha256 = (bytes: Uint8Array | string): string =>
  createHash('sha256').update(bytes).digest('hex');

const digest = z.string().regex(/^[a-f0-9]{64}$/);

export const manifestEntry = z.object({
  kind: z.enum(bundleKinds),
  /** Compiled form: `bundle/<digest>`. */
  digest,
  /** The text it came from: `source/<digest>`. */
  sourceDigest: digest,
  /** The revision in which this entry last changed. */
  revision: z.number().int().positive(),
});
export type ManifestEntry = z.infer<typeof manifestEntry>;

export const manifest = z.object({
  revision: z.number().int().positive(),
  createdAt: z.string(),
  submissionId: z.string(),
  dryRun: z.boolean(),
  rollbackOf: z.number().int().positive().optional(),
  /** Policy key → entry; the whole set in force at this revision. */
  entries: z.record(z.string(), manifestEntry),
});
export type Manifest = z.infer<typeof manifest>;

/** `rollout.<decision-point>`: the revision that decision point applied, and when. */
export const rolloutEntry = z.object({
  decisionPoint: z.string(),
  revision: z.number().int().nonnegative(),
  at: z.string(),
});
export type RolloutEntry = z.infer<typeof rolloutEntry>;

/** Canonical JSON (sorted keys), so equal content has one digest. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
