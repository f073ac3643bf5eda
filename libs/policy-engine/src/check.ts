/**
 * Small structural checkers for data this package reads back from storage (a bundle in the object
 * store is input like any other). Each checker returns the value typed, or throws
 * `InvalidBundleError` naming the field at fault; unknown fields are refused, so a reader never
 * ignores a constraint it does not understand (fail closed).
 */
import { InvalidBundleError } from './errors.ts';

export type Checker<T> = (value: unknown, path: string) => T;

type Fields = Record<string, Checker<unknown>>;
type Checked<F extends Fields> = { [K in keyof F]: F[K] extends Checker<infer T> ? T : never };

const fail = (path: string, expected: string): never => {
  throw new InvalidBundleError(`${path || 'bundle'} must be ${expected}`);
};

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const string: Checker<string> = (value, path) =>
  typeof value === 'string' ? value : fail(path, 'a string');

export const integer: Checker<number> = (value, path) =>
  Number.isInteger(value) ? (value as number) : fail(path, 'an integer');

export const oneOf =
  <const T extends string>(values: readonly T[]): Checker<T> =>
  (value, path) =>
    (values as readonly unknown[]).includes(value) ? (value as T) : fail(path, `one of ${values.join(', ')}`);

export const list =
  <T>(item: Checker<T>): Checker<T[]> =>
  (value, path) =>
    Array.isArray(value) ? value.map((v, i) => item(v, `${path}[${i}]`)) : fail(path, 'a list');

export const record =
  <T>(item: Checker<T>): Checker<Record<string, T>> =>
  (value, path) =>
    isPlainObject(value)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, item(v, `${path}.${k}`)]))
      : fail(path, 'a mapping');

/** Any JSON object, kept as it is (Rego's `data`). */
export const jsonObject: Checker<Record<string, unknown>> = (value, path) =>
  isPlainObject(value) ? value : fail(path, 'a mapping');

/** An object with `required` and `optional` fields and no others. */
export function object<R extends Fields, O extends Fields = Record<never, Checker<unknown>>>(
  required: R,
  optional?: O,
): Checker<Checked<R> & Partial<Checked<O>>> {
  return (value, path) => {
    if (!isPlainObject(value)) return fail(path, 'a mapping');
    const at = (key: string): string => (path ? `${path}.${key}` : key);
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(required)) out[key] = check(value[key], at(key));
    for (const [key, v] of Object.entries(value)) {
      if (Object.hasOwn(required, key)) continue;
      const check = optional && Object.hasOwn(optional, key) ? optional[key] : undefined;
      if (!check) throw new InvalidBundleError(`unknown field ${at(key)}`);
      if (v !== undefined) out[key] = check(v, at(key));
    }
    return out as Checked<R> & Partial<Checked<O>>;
  };
}
