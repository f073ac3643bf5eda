/**
 * A compiled Rego policy loaded into WebAssembly (`@open-policy-agent/opa-wasm`), evaluated
 * against OPA-Envoy's input document. Evaluation is synchronous, so a Rego policy can serve as
 * Warden's CUSTOM provider inside one atomic decision.
 */
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { messageOf } from '@warden/core';
import type { AuthzRequest } from '../authz/model.ts';
import type { CustomProvider } from '../authz/revision.ts';
import { PolicyEngineError, RegoLoadError } from '../errors.ts';
import { BuiltinContext, createBuiltins } from './builtins/index.ts';
import type { CompiledRego } from './compile.ts';
import { deniedDecision, validateDecision } from './decision.ts';
import type { RegoDecision } from './decision.ts';
import { buildEnvoyInput } from './input.ts';
import type { EnvoyInput, EnvoyInputOptions } from './input.ts';
import { importedMemory } from './wasm-memory.ts';

/** The memory decision points give a policy at most, in 64 KiB pages (64 MiB). */
export const DEFAULT_MAX_MEMORY_PAGES = 1024;
const INITIAL_MEMORY_PAGES = 5;

export type RegoLoadOptions = EnvoyInputOptions & {
  /** `data` document the policy reads (`data.*`). */
  data?: Record<string, unknown>;
  /** Upper bound of the Wasm memory, in 64 KiB pages; default 1024 (64 MiB). */
  maxMemoryPages?: number;
  /** OPA's `--strict-builtin-errors`: a failing builtin fails the evaluation (default: undefined). */
  strictBuiltinErrors?: boolean;
};

/** A denial with its reason, for when the policy itself could not decide. */
export type RegoOutcome = RegoDecision & { error?: { code: string; message: string } };

const denied = (code: string, message: string): RegoOutcome => ({
  ...deniedDecision(),
  error: { code, message },
});

/**
 * The code and text of anything thrown while evaluating a Rego policy. opa-wasm throws values
 * that are not Errors: a string for a runtime error of the policy (`policy.rego:4:1: var
 * assignment conflict`, position included), an object `{ message }` for a builtin the host does
 * not provide (a `location: { file, row, col }` is rendered in front when present); host builtins
 * and the Wasm runtime throw Errors. Nothing is ever rendered as `[object Object]`.
 */
export function describeRegoError(err: unknown): { code: string; message: string } {
  if (err instanceof PolicyEngineError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'rego_eval_error', message: err.message || err.name };
  if (typeof err === 'string') return { code: 'rego_eval_error', message: err };
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') {
    const location = 'location' in err ? positionOf(err.location) : '';
    return { code: 'rego_eval_error', message: `${location}${err.message}` };
  }
  return { code: 'rego_eval_error', message: messageOf(err) };
}

/** `file:row:col: ` of an OPA location (`{ file, row, col }`), or nothing when it has none. */
function positionOf(location: unknown): string {
  if (typeof location !== 'object' || location === null) return '';
  const { file, row, col } = location as { file?: unknown; row?: unknown; col?: unknown };
  if (typeof row !== 'number') return '';
  const at = [typeof file === 'string' && file ? file : 'policy.rego', row];
  if (typeof col === 'number') at.push(col);
  return `${at.join(':')}: `;
}

/** `code: message` of anything thrown while evaluating, for a deny reason. */
export function renderRegoError(err: unknown): string {
  const { code, message } = describeRegoError(err);
  return `${code}: ${message}`;
}

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
    const maximum = options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
    let declared: number;
    try {
      declared = importedMemory(compiled.wasm)?.minimum ?? 0;
    } catch (err) {
      throw new RegoLoadError(`not a policy module: ${messageOf(err)}`, { cause: err });
    }
    if (declared > maximum)
      throw new RegoLoadError(
        `the policy needs ${declared} pages (64 KiB each) of WebAssembly memory; decision points allow ${maximum}`,
      );
    // The module's own minimum grows with its data segments: a smaller memory would not link.
    const memory = { initial: Math.max(INITIAL_MEMORY_PAGES, declared), maximum };
    // Host builtins share one context per evaluation: the request's time or one "now".
    const context = new BuiltinContext();
    const builtins = createBuiltins(context, { strictBuiltinErrors: options.strictBuiltinErrors ?? false });
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(compiled.wasm, memory, builtins);
    } catch (err) {
      throw new RegoLoadError(`cannot instantiate the policy: ${messageOf(err)}`, { cause: err });
    }
    const evaluate = policy.evaluate.bind(policy);
    policy.evaluate = (input: unknown, entrypoint?: string | number) => {
      context.begin(input);
      return evaluate(input, entrypoint);
    };
    if (options.data !== undefined) {
      try {
        policy.setData(options.data);
      } catch (err) {
        throw new RegoLoadError(`cannot load the policy's data: ${RegoPolicy.describeError(err).message}`, {
          cause: err,
        });
      }
    }
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

  /** The code and text of anything thrown while evaluating (`describeRegoError`). */
  static describeError(err: unknown): { code: string; message: string } {
    return describeRegoError(err);
  }

  /** Builds the input from a request and decides; never throws (fail closed with a reason). */
  check(request: AuthzRequest): RegoOutcome {
    try {
      return this.evaluate(buildEnvoyInput(request, this.#inputOptions));
    } catch (err) {
      const { code, message } = describeRegoError(err);
      return denied(code, message);
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
