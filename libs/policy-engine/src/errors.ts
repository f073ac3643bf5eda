/**
 * Errors of the policy engine. Each carries a snake_case `code` used in logs, events and metric
 * labels; callers check the class, never the message.
 */
import { WardenError } from '@warden/core';

/** Where a problem sits in a policy text: 1-based line and column, plus a dotted field path. */
export type Issue = {
  code: string;
  message: string;
  line: number;
  column: number;
  /** Field path inside the document, e.g. `spec.rules[0].from[0].source.principals[1]`. */
  path: string;
  /** Source file name when known (Rego), else absent. */
  file?: string;
};

export class PolicyEngineError extends WardenError {}

/** A policy text (YAML or Rego) was rejected; `issues` lists every problem found, each once. */
export class PolicyRejectedError extends PolicyEngineError {
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[], options?: ErrorOptions) {
    const first = issues[0];
    const where = first ? `${first.file ?? ''}${first.file ? ':' : ''}${first.line}:${first.column}: ` : '';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super('policy_rejected', `${where}${first?.message ?? 'policy rejected'}${more}`, options);
    this.issues = issues;
  }
}

/** The `opa` binary could not be run, or produced no bundle (not a policy mistake). */
export class RegoToolError extends PolicyEngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('rego_tool_failed', message, options);
  }
}

/** A compiled Rego policy cannot be instantiated within the limits decision points use. */
export class RegoLoadError extends PolicyEngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('rego_load_failed', message, options);
  }
}

/** A Rego decision did not have the shape of OPA-Envoy's `allow` contract. */
export class InvalidDecisionError extends PolicyEngineError {
  /** The decision field at fault, e.g. `http_status`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super('invalid_decision', `${field}: ${message}`);
    this.field = field;
  }
}

/** A request handed to the evaluator is malformed; the decision point denies it. */
export class InvalidRequestError extends PolicyEngineError {
  constructor(message: string) {
    super('invalid_request', message);
  }
}

/** A compiled policy read back from storage does not have the shape of a bundle. */
export class InvalidBundleError extends PolicyEngineError {
  constructor(message: string) {
    super('invalid_bundle', message);
  }
}

/** A policy's declared kind is not one Warden translates. */
export class UnknownKindError extends PolicyEngineError {
  constructor(message: string) {
    super('unknown_kind', message);
  }
}
