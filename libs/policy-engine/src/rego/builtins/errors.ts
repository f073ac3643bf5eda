import { PolicyEngineError } from '../../errors.ts';

/** An error of a host builtin, as OPA words it (`<name>: <reason>`); non-strict evaluation turns it into undefined. */
export class BuiltinError extends Error {
  override name = 'BuiltinError';
}

export function fail(message: string): never {
  throw new BuiltinError(message);
}

export function str(value: unknown, pos: number): string {
  if (typeof value !== 'string') fail(`operand ${pos} must be string but got ${typeName(value)}`);
  return value;
}

export function num(value: unknown, pos: number): number {
  if (typeof value !== 'number') fail(`operand ${pos} must be number but got ${typeName(value)}`);
  return value;
}

export function int(value: unknown, pos: number): bigint {
  const n = num(value, pos);
  if (!Number.isInteger(n)) fail(`operand ${pos} must be integer number but got floating-point number`);
  return BigInt(n);
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

/**
 * A builtin failed under `strictBuiltinErrors`: the evaluation fails with OPA's code
 * (`eval_builtin_error`) and message (`<builtin>: <reason>`), which `RegoPolicy.check` puts in
 * the deny reason.
 */
export class BuiltinEvalError extends PolicyEngineError {
  readonly builtin: string;
  constructor(builtin: string, reason: string, options?: ErrorOptions) {
    super('eval_builtin_error', `${builtin}: ${reason}`, options);
    this.builtin = builtin;
  }
}
