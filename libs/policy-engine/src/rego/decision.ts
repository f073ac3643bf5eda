/**
 * OPA-Envoy's decision contract (opa-envoy-plugin `envoyauth/response.go`): `allow` is a boolean
 * or an object with `allowed` (required boolean), `headers`, `response_headers_to_add`,
 * `request_headers_to_remove`, `body`, `http_status` (default 403 when denied) and
 * `dynamic_metadata`. Each field is checked once, and a bad one is an `InvalidDecisionError`
 * naming it; the caller denies (fail closed).
 */
import { InvalidDecisionError } from '../errors.ts';

export type HeaderList = [name: string, value: string][];

export type RegoDecision = {
  allowed: boolean;
  /** Status for a denied request; 403 unless the policy says otherwise. */
  httpStatus: number;
  /** Headers added to the upstream request (allowed) or to the denial response (denied). */
  headers: HeaderList;
  responseHeadersToAdd: HeaderList;
  requestHeadersToRemove: string[];
  body: string;
  dynamicMetadata: Record<string, unknown>;
};

const known = new Set([
  'allowed',
  'headers',
  'response_headers_to_add',
  'request_headers_to_remove',
  'body',
  'http_status',
  'dynamic_metadata',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{"x": "1", "y": ["2", "3"]}` or `[{"x": "1"}, {"x": "2"}]` (repeated headers), as OPA-Envoy allows. */
function headerList(field: string, value: unknown): HeaderList {
  const out: HeaderList = [];
  const add = (map: Record<string, unknown>, where: string) => {
    for (const [name, v] of Object.entries(map)) {
      if (typeof v === 'string') out.push([name, v]);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
        for (const x of v) out.push([name, x]);
      else throw new InvalidDecisionError(field, `${where}${name} must be a string or a list of strings`);
    }
  };
  if (isObject(value)) add(value, '');
  else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      if (!isObject(item)) throw new InvalidDecisionError(field, `[${i}] must be an object of headers`);
      add(item, `[${i}].`);
    }
  } else throw new InvalidDecisionError(field, 'must be an object (or a list of objects) of headers');
  return out;
}

/** OPA-Envoy's defaults: a plain 403 denial with nothing added or removed. */
export const deniedDecision = (): RegoDecision => ({
  allowed: false,
  httpStatus: 403,
  headers: [],
  responseHeadersToAdd: [],
  requestHeadersToRemove: [],
  body: '',
  dynamicMetadata: {},
});

export function validateDecision(value: unknown): RegoDecision {
  const decision = deniedDecision();
  if (value === undefined)
    throw new InvalidDecisionError('allow', 'the decision is undefined (no rule produced a value)');
  if (typeof value === 'boolean') return { ...decision, allowed: value };
  if (!isObject(value))
    throw new InvalidDecisionError(
      'allow',
      `must be a boolean or an object, got ${Array.isArray(value) ? 'array' : typeof value}`,
    );
  for (const key of Object.keys(value))
    if (!known.has(key)) throw new InvalidDecisionError(key, 'is not a decision field');
  if (!('allowed' in value)) throw new InvalidDecisionError('allowed', 'is required in an object decision');
  if (typeof value.allowed !== 'boolean') throw new InvalidDecisionError('allowed', 'must be a boolean');
  decision.allowed = value.allowed;
  if (value.headers !== undefined) decision.headers = headerList('headers', value.headers);
  if (value.response_headers_to_add !== undefined)
    decision.responseHeadersToAdd = headerList('response_headers_to_add', value.response_headers_to_add);
  if (value.request_headers_to_remove !== undefined) {
    const list = value.request_headers_to_remove;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
      throw new InvalidDecisionError('request_headers_to_remove', 'must be a list of strings');
    decision.requestHeadersToRemove = list as string[];
  }
  if (value.body !== undefined) {
    if (typeof value.body !== 'string') throw new InvalidDecisionError('body', 'must be a string');
    decision.body = value.body;
  }
  if (value.http_status !== undefined) {
    const status = value.http_status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
      throw new InvalidDecisionError(
        'http_status',
        `must be an HTTP status code (100-599), got ${JSON.stringify(status)}`,
      );
    decision.httpStatus = status;
  }
  if (value.dynamic_metadata !== undefined) {
    if (!isObject(value.dynamic_metadata))
      throw new InvalidDecisionError('dynamic_metadata', 'must be an object');
    decision.dynamicMetadata = value.dynamic_metadata;
  }
  return decision;
}
