import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The storage layout of policy revisions, shared by the policy service (the only writer) and
 * every decision point (readers):
 *
 * - KV `warden-policy`: `<kind>.<namespace>.<name>` → the revision that last changed that policy
 *   (DESIGN §2); `revision.active` and `revision.dryrun` → the revision in force and the one on
 *   trial; `revision.latest` → the last number handed out; `rollout.<decision-point>` → what
 *   that decision point applied; `submission.<id>` → the revision a submission produced.
 * - Object store `warden-bundles`: `bundle/<sha256>` compiled policies, `source/<sha256>` their
 *   text, `manifest/<revision>` the whole set of one revision.
 */
export const kvKey = {
  active: 'revision.active',
  dryRun: 'revision.dryrun',
  latest: 'revision.latest',
  rollout: (decisionPoint: string): string => `rollout.${kvToken(decisionPoint)}`,
  submission: (id: string): string => `submission.${kvToken(id)}`,
} as const;

/** One KV key token: characters outside the KV key alphabet become `_`, and no dots. */
const kvToken = (s: string): string => s.replace(/[^-_=a-zA-Z0-9]/g, '_');

export const objectName = {
  bundle: (digest: string): string => `bundle/${digest}`,
  source: (digest: string): string => `source/${digest}`,
  manifest: (revision: number): string => `manifest/${revision}`,
} as const;

export const sha256 = (bytes: Uint8Array | string): string =>
  createHash('sha256').update(bytes).digest('hex');

const digest = z.string().regex(/^[a-f0-9]{64}$/);

export const manifestEntry = z.object({
  kind: z.enum(['authorization-policy', 'rego', 'mesh-defaults']),
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

/** Compiled bundles, one per policy key. Rego carries its Wasm as base64 inside the JSON. */
export const bundle = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('authorization-policy'), policy: z.record(z.string(), z.unknown()) }),
  z.object({
    kind: z.literal('rego'),
    name: z.string(),
    entrypoint: z.string(),
    regoVersion: z.enum(['v1', 'v0']),
    wasmBase64: z.string(),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    kind: z.literal('mesh-defaults'),
    meshDefault: z.object({
      rootNamespace: z.string(),
      default: z.enum(['allow', 'deny']),
      namespaces: z.record(z.string(), z.enum(['allow', 'deny'])).optional(),
    }),
  }),
]);
export type Bundle = z.infer<typeof bundle>;

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
