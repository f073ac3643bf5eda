import { DEFAULT_POLICY_LIMITS } from '@warden/policy-engine';
import { z } from 'zod';

export const policyConfig = z.object({
  /** The opa binary that compiles Rego to Wasm (`opa build -t wasm`). */
  WARDEN_OPA_PATH: z.string().min(1).default('opa'),
  /** Milliseconds one `opa build` may take before the submission is rejected. */
  WARDEN_OPA_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** Largest Rego `data` document a submission may carry, in bytes of JSON. */
  WARDEN_POLICY_MAX_DATA_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(DEFAULT_POLICY_LIMITS.maxDataBytes),
  /** Deepest nesting of objects and arrays in a Rego `data` document. */
  WARDEN_POLICY_MAX_DEPTH: z.coerce
    .number()
    .int()
    .positive()
    .max(1000)
    .default(DEFAULT_POLICY_LIMITS.maxDepth),
});
export type PolicyConfig = z.infer<typeof policyConfig>;
