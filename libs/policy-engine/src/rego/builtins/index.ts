/**
 * The builtins Warden provides to Rego policies compiled to WebAssembly, on top of those
 * opa-wasm implements (natively in the module, or in its own JavaScript: `sprintf`,
 * `json.is_valid`, `regex.split`, `yaml.*`).
 *
 * opa-wasm calls a host builtin synchronously with its arguments as JSON values and loads the
 * result back with `JSON.stringify`, where `undefined` becomes the null address, which the
 * compiled policy reads as "undefined". OPA's default (non-strict) evaluation makes an
 * expression whose builtin fails undefined, so every builtin here catches its own error and
 * returns `undefined`; with `strictBuiltinErrors` the error propagates instead and opa-wasm's
 * evaluation throws it as `BuiltinEvalError` (`eval_builtin_error: <builtin>: <reason>`, as OPA),
 * which `RegoPolicy.check` turns into a denial with that reason.
 *
 * Results that may exceed 2^53 (nanoseconds) are bigints, serialised exactly: opa-wasm loads
 * an `ArrayBuffer` result as JSON text, and the Wasm JSON parser keeps big integers exact.
 * Arguments arrive through `JSON.parse`, so an integer argument above 2^53 (a nanosecond
 * timestamp passed back in) is rounded to the nearest double; second-level results agree.
 */
import { BuiltinContext } from './context.ts';
import { encodingBuiltins } from './encoding.ts';
import { BuiltinEvalError } from './errors.ts';
import { jwtBuiltins } from './jwt.ts';
import { timeBuiltins } from './time.ts';

export { BuiltinContext } from './context.ts';
export { BuiltinError, BuiltinEvalError } from './errors.ts';

type Fn = (...args: unknown[]) => unknown;

/** The builtins opa-wasm 1.10 implements in JavaScript itself (its `src/builtins`). */
export const OPA_WASM_JS_BUILTINS: readonly string[] = [
  'sprintf',
  'json.is_valid',
  'regex.split',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
];

function implementations(ctx: BuiltinContext): Record<string, Fn> {
  return {
    ...timeBuiltins(() => ctx.now()),
    ...jwtBuiltins(() => ctx.now()),
    ...encodingBuiltins((key) => ctx.uuid(key)),
  };
}

/** Names of the host builtins Warden provides (not counting opa-wasm's own). */
export const WARDEN_BUILTINS: readonly string[] = Object.keys(implementations(new BuiltinContext())).sort();

/** Every builtin a Warden Rego policy may import from the host. */
export const PROVIDED_BUILTINS: ReadonlySet<string> = new Set([...OPA_WASM_JS_BUILTINS, ...WARDEN_BUILTINS]);

export type BuiltinOptions = {
  /** OPA's `--strict-builtin-errors`: a failing builtin fails the evaluation; default false. */
  strictBuiltinErrors?: boolean;
};

function hasBigint(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (Array.isArray(value)) return value.some(hasBigint);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(hasBigint);
  return false;
}

/** The result as opa-wasm loads it: JSON text in an `ArrayBuffer` when it holds a bigint. */
export function toWasmValue(value: unknown): unknown {
  if (!hasBigint(value)) return value;
  const text = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? `\u0000${v}\u0000` : v,
  ).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
  const bytes = new TextEncoder().encode(text);
  return bytes.buffer;
}

/** The custom builtins for `loadPolicy`, sharing `ctx` (begin it before each evaluation). */
export function createBuiltins(ctx: BuiltinContext, options: BuiltinOptions = {}): Record<string, Fn> {
  const out: Record<string, Fn> = {};
  for (const [name, impl] of Object.entries(implementations(ctx))) {
    out[name] = (...args: unknown[]) => {
      try {
        return toWasmValue(impl(...args));
      } catch (err) {
        if (!options.strictBuiltinErrors) return undefined;
        const reason = err instanceof Error ? err.message : String(err);
        throw new BuiltinEvalError(name, reason, { cause: err });
      }
    };
  }
  return out;
}
