import { z } from 'zod';

export const policyConfig = z.object({
  /** The opa binary that compiles Rego to Wasm (`opa build -t wasm`). */
  WARDEN_OPA_PATH: z.string().min(1).default('opa'),
  /** Milliseconds one `opa build` may take before the submission is rejected. */
  WARDEN_OPA_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
});
export type PolicyConfig = z.infer<typeof policyConfig>;
