/**
 * A compiled Rego policy loaded into WebAssembly (`@open-policy-agent/opa-wasm`), evaluated
 * against OPA-Envoy's input document. Evaluation is synchronous, so a Rego policy can serve as
 * Warden's CUSTOM provider inside one atomic decision.
 */
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { AuthzRequest } from '../authz/model.ts';
import type { CustomProvider } from '../authz/revision.ts';
import { PolicyEngineError } from '../errors.ts';
import type { CompiledRego } from './compile.ts';
import { deniedDecision, validateDecision } from './decision.ts';
import type { RegoDecision } from './decision.ts';
import { buildEnvoyInput } from './input.ts';
import type { EnvoyInput, EnvoyInputOptions } from './input.ts';

export type RegoLoadOptions = EnvoyInputOptions & {
  /** `data` document the policy reads (`data.*`). */
  data?: Record<string, unknown>;
  /** Upper bound of the Wasm memory, in 64 KiB pages; default 1024 (64 MiB). */
  maxMemoryPages?: number;
};

/** A denial with its reason, for when the policy itself could not decide. */
export type RegoOutcome = RegoDecision & { error?: { code: string; message: string } };

const denied = (code: string, message: string): RegoOutcome => ({
  ...deniedDecision(),
  error: { code, message },
});

export class RegoPolicy {
  readonly entrypoint: string;
  readonly #policy: LoadedPolicy;
  readonly #inputOptions: EnvoyInputOptions;

  private constructor(policy: LoadedPolicy, entrypoint: string, inputOptions: EnvoyInputOptions) {
    this.#policy = policy;
    this.entrypoint = entrypoint;
    this.#inputOptions = inputOptions;
  }

  static async load(compiled: CompiledRego, options: RegoLoadOptions = {}): Promise<RegoPolicy> {
    const memory = { initial: 5, maximum: options.maxMemoryPages ?? 1024 };
    const policy = await loadPolicy(compiled.wasm, memory);
    if (options.data !== undefined) policy.setData(options.data);
    const inputOptions: EnvoyInputOptions = {};
    if (options.maxBodyBytes !== undefined) inputOptions.maxBodyBytes = options.maxBodyBytes;
    return new RegoPolicy(policy, compiled.entrypoint, inputOptions);
  }

  /** Evaluates an input document; throws `InvalidDecisionError` if the result breaks the contract. */
  evaluate(input: EnvoyInput): RegoDecision {
    const results: unknown = this.#policy.evaluate(input, this.entrypoint);
    const first: unknown = Array.isArray(results) ? results[0] : undefined;
    const value =
      typeof first === 'object' && first !== null ? (first as { result?: unknown }).result : undefined;
    return validateDecision(value);
  }

  /** Builds the input from a request and decides; never throws (fail closed with a reason). */
  check(request: AuthzRequest): RegoOutcome {
    try {
      return this.evaluate(buildEnvoyInput(request, this.#inputOptions));
    } catch (err) {
      if (err instanceof PolicyEngineError) return denied(err.code, err.message);
      return denied('rego_eval_error', err instanceof Error ? err.message : String(err));
    }
  }

  /** This policy as the provider of CUSTOM AuthorizationPolicies. */
  provider(): CustomProvider {
    return (request) => {
      const outcome = this.check(request);
      return outcome.error
        ? { allowed: false, reason: `${outcome.error.code}: ${outcome.error.message}` }
        : { allowed: outcome.allowed };
    };
  }
}
