/**
 * AuthorizationPolicy YAML (one or many documents) → typed model plus every problem found, each
 * with line and column. Nothing stops at the first error: like Istio's accumulating logger, each
 * bad field is reported once and parsing goes on, so one submission shows all its mistakes.
 *
 * The model keeps what could be understood and marks what could not (`Rule.broken`,
 * `AuthorizationPolicy.broken`); compile.ts decides what a broken part means (fail-safe asymmetry).
 * A caller that wants all-or-nothing rejects the text whenever `issues` is non-empty.
 */
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Node, Pair, YAMLMap } from 'yaml';
import type { Issue } from '../errors.ts';
import { parseConditionKey } from './attributes.ts';
import { ipBlockError, isPathTemplate, parseTimeWindow, pathTemplateError } from './match.ts';
import { Action, apiVersions, operationFields, sourceFields } from './model.ts';
import type { AuthorizationPolicy, Condition, Rule } from './model.ts';

export type ParseOptions = {
  /** Largest accepted text, in bytes (UTF-8). Default 1 MiB. */
  maxBytes?: number;
  /** Most documents in one text. Default 10,000. */
  maxDocuments?: number;
  /**
   * The namespace of a policy whose `metadata.namespace` is absent, as kubectl's current namespace
   * (`warden apply -n`). Without it such a policy is refused.
   */
  namespace?: string;
};

export type ParseResult = { policies: AuthorizationPolicy[]; issues: Issue[] };

const ipFields = new Set<string>(['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']);
const portFields = new Set<string>(['ports', 'notPorts']);
const pathFields = new Set<string>(['paths', 'notPaths']);
const serviceAccountFields = new Set<string>(['serviceAccounts', 'notServiceAccounts']);
const trustDomainFields = new Set<string>(['trustDomains', 'notTrustDomains']);
/** Istio's limit on one serviceAccounts list ("to avoid unbounded configuration sizes"). */
const MAX_SERVICE_ACCOUNTS = 16;
/** The annotation with which Istio evaluates a policy without enforcing it. */
const DRY_RUN_ANNOTATION = 'istio.io/dry-run';
/** Istio's experimental `when` keys on Envoy filter metadata. */
const ENVOY_FILTER_KEY = 'experimental.envoy.filters.';
const actions = new Set<string>(Object.values(Action));
/** ObjectMeta fields a policy exported from Kubernetes may carry; they do not affect evaluation. */
const metadataFields = new Set([
  'name',
  'namespace',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
]);

/** Collects issues, once per position and code. */
class Reporter {
  readonly issues: Issue[] = [];
  readonly #seen = new Set<string>();
  readonly #lines: LineCounter;
  constructor(lines: LineCounter) {
    this.#lines = lines;
  }
  at(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line: Math.max(1, line), column: Math.max(1, col) };
  }
  report(node: Node | null | undefined, fallback: number, path: string, code: string, message: string): void {
    const { line, column } = this.at(node?.range?.[0] ?? fallback);
    const key = `${line}:${column}:${code}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.issues.push({ code, message, line, column, path });
  }
}

/** `namespace`: the policy's, once known (a bare service account name is read in it). */
type Ctx = { r: Reporter; base: number; namespace?: string };

function mapEntries(ctx: Ctx, node: Node | null | undefined, path: string): Pair<Node, Node | null>[] | null {
  if (node === null || node === undefined) return [];
  if (!isMap(node)) {
    ctx.r.report(node, ctx.base, path, 'invalid_type', `${path} must be a mapping`);
    return null;
  }
  return (node as YAMLMap<Node, Node | null>).items;
}

const keyOf = (pair: Pair<Node, Node | null>): string =>
  isScalar(pair.key) ? String(pair.key.value) : String(pair.key);

function scalarString(ctx: Ctx, node: Node | null | undefined, path: string): string | null {
  if (isScalar(node) && typeof node.value === 'string') return node.value;
  ctx.r.report(node, ctx.base, path, 'invalid_type', `${path} must be a string`);
  return null;
}

/** A list of strings; returns null (after reporting) if the list or any item is not a string. */
function stringList(ctx: Ctx, node: Node | null | undefined, path: string): string[] | null {
  if (!isSeq(node)) {
    ctx.r.report(node, ctx.base, path, 'invalid_type', `${path} must be a list of strings`);
    return null;
  }
  const out: string[] = [];
  let ok = true;
  for (const [i, item] of node.items.entries()) {
    const s = scalarString(ctx, item as Node, `${path}[${i}]`);
    if (s === null) ok = false;
    else out.push(s);
  }
  return ok ? out : null;
}

/** Checks each value of a field; reports every bad one and returns false if any was bad. */
function checkValues(
  ctx: Ctx,
  node: Node | null | undefined,
  path: string,
  values: readonly string[],
  check: (v: string) => string | null,
): boolean {
  let ok = true;
  for (const [i, v] of values.entries()) {
    const error = check(v);
    if (error === null) continue;
    const item = isSeq(node) ? (node.items[i] as Node | undefined) : undefined;
    ctx.r.report(item ?? node, ctx.base, `${path}[${i}]`, 'invalid_value', error);
    ok = false;
  }
  return ok;
}

const portError = (v: string): string | null =>
  /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? null : `${JSON.stringify(v)} is not a port number (0-65535)`;

const pathError = (v: string): string | null => {
  if (isPathTemplate(v)) return pathTemplateError(v);
  return v.length === 0 ? 'an empty path never matches' : null;
};

/** Istio's `CheckServiceAccount`: `<name>` or `<namespace>/<name>`, no wildcard. */
const serviceAccountError = (v: string): string | null => {
  if (v === '') return 'an empty service account never matches';
  if (v.includes('*')) return `${JSON.stringify(v)}: no wildcard is allowed in a service account`;
  const parts = v.split('/');
  if (parts.length > 2 || parts.some((p) => p === ''))
    return `${JSON.stringify(v)} is not 'serviceAccount' or 'namespace/serviceAccount'`;
  return v.length > 320 ? `${JSON.stringify(v)} is longer than 320 characters` : null;
};

/** A bare name is a service account of the policy's namespace (Istio's builder). */
const serviceAccountIn = (ctx: Ctx, v: string): string =>
  v.includes('/') ? v : `${ctx.namespace ?? ''}/${v}`;

/** Istio's `CheckTrustDomainValues`: one `*` at most, at the start or the end; no `/`. */
const trustDomainError = (v: string): string | null => {
  if (v === '') return 'an empty trust domain never matches';
  const stars = v.split('*').length - 1;
  if (stars > 1) return `${JSON.stringify(v)}: at most one wildcard is allowed`;
  if (stars === 1 && !v.startsWith('*') && !v.endsWith('*'))
    return `${JSON.stringify(v)}: a wildcard is only allowed at the start or the end`;
  return v.includes('/') ? `${JSON.stringify(v)}: a trust domain has no '/'` : null;
};

/** Parses a `source` or `operation` block. Returns the fields that are valid and whether any was not. */
function parseFields<K extends string>(
  ctx: Ctx,
  node: Node | null | undefined,
  path: string,
  fields: readonly K[],
): { value: Partial<Record<K, string[]>>; broken: boolean } {
  const value: Partial<Record<K, string[]>> = {};
  const entries = mapEntries(ctx, node, path);
  if (entries === null) return { value, broken: true };
  let broken = false;
  if (entries.length === 0) {
    // Istio's validation: an empty source or operation is a mistake, not "match everything".
    ctx.r.report(node, ctx.base, path, 'empty_block', `${path} must not be empty`);
    broken = true;
  }
  for (const pair of entries) {
    const key = keyOf(pair);
    const fieldPath = `${path}.${key}`;
    if (!(fields as readonly string[]).includes(key)) {
      ctx.r.report(pair.key as Node, ctx.base, fieldPath, 'unknown_field', `unknown field ${fieldPath}`);
      broken = true;
      continue;
    }
    const list = stringList(ctx, pair.value, fieldPath);
    if (list === null) {
      broken = true;
      continue;
    }
    let ok = true;
    if (ipFields.has(key)) ok = checkValues(ctx, pair.value, fieldPath, list, ipBlockError);
    else if (portFields.has(key)) ok = checkValues(ctx, pair.value, fieldPath, list, portError);
    else if (pathFields.has(key)) ok = checkValues(ctx, pair.value, fieldPath, list, pathError);
    else if (trustDomainFields.has(key)) ok = checkValues(ctx, pair.value, fieldPath, list, trustDomainError);
    else if (serviceAccountFields.has(key)) {
      ok = checkValues(ctx, pair.value, fieldPath, list, serviceAccountError);
      if (list.length > MAX_SERVICE_ACCOUNTS) {
        ctx.r.report(
          pair.value,
          ctx.base,
          fieldPath,
          'invalid_value',
          `${fieldPath} has ${list.length} values; Istio accepts at most ${MAX_SERVICE_ACCOUNTS}`,
        );
        ok = false;
      }
    }
    if (!ok) {
      // The whole field is left out: for a DENY rule that widens the match (fail safe).
      broken = true;
      continue;
    }
    value[key as K] = serviceAccountFields.has(key) ? list.map((v) => serviceAccountIn(ctx, v)) : list;
  }
  const has = (...keys: string[]) => keys.some((k) => (value as Record<string, unknown>)[k] !== undefined);
  if (
    has('serviceAccounts', 'notServiceAccounts') &&
    has('principals', 'notPrincipals', 'namespaces', 'notNamespaces')
  ) {
    // Istio's validation refuses the mix; leaving one side out would change what the rule matches.
    ctx.r.report(
      node,
      ctx.base,
      path,
      'invalid_field',
      `${path}: serviceAccounts cannot be set with namespaces or principals (Istio refuses the policy)`,
    );
    broken = true;
    for (const k of ['serviceAccounts', 'notServiceAccounts']) delete (value as Record<string, unknown>)[k];
  }
  return { value, broken };
}

function parseCondition(ctx: Ctx, node: Node | null | undefined, path: string): Condition | null {
  const entries = mapEntries(ctx, node, path);
  if (entries === null) return null;
  let key: string | null = null;
  let keyNode: Node | null | undefined;
  let values: string[] | undefined;
  let notValues: string[] | undefined;
  let valuesNode: Node | null | undefined;
  let notValuesNode: Node | null | undefined;
  let ok = true;
  for (const pair of entries) {
    const k = keyOf(pair);
    if (k === 'key') {
      key = scalarString(ctx, pair.value, `${path}.key`);
      keyNode = pair.value;
      if (key === null) ok = false;
    } else if (k === 'values' || k === 'notValues') {
      const list = stringList(ctx, pair.value, `${path}.${k}`);
      if (list === null) ok = false;
      else if (k === 'values') [values, valuesNode] = [list, pair.value];
      else [notValues, notValuesNode] = [list, pair.value];
    } else {
      ctx.r.report(pair.key as Node, ctx.base, `${path}.${k}`, 'unknown_field', `unknown field ${path}.${k}`);
      ok = false;
    }
  }
  if (!ok) return null;
  if (key === null) {
    ctx.r.report(node, ctx.base, `${path}.key`, 'missing_field', `${path}.key is required`);
    return null;
  }
  if (!values?.length && !notValues?.length) {
    ctx.r.report(
      node,
      ctx.base,
      path,
      'missing_field',
      `${path}: at least one of values or notValues must be set`,
    );
    return null;
  }
  const parsed = parseConditionKey(key);
  if (typeof parsed === 'string') {
    const note = key.startsWith(ENVOY_FILTER_KEY)
      ? ': Istio matches it against the dynamic metadata an Envoy filter wrote (experimental); ' +
        "Warden's decision points run no Envoy filters, so there is nothing to match"
      : '';
    ctx.r.report(keyNode, ctx.base, `${path}.key`, 'unsupported_key', `${parsed}${note}`);
    return null;
  }
  const check =
    parsed.attribute.value === 'ip'
      ? ipBlockError
      : parsed.attribute.value === 'port'
        ? portError
        : parsed.attribute.value === 'time'
          ? (v: string) => {
              const w = parseTimeWindow(v);
              return typeof w === 'string' ? w : null;
            }
          : parsed.attribute.value === 'service-account'
            ? serviceAccountError
            : parsed.attribute.value === 'trust-domain'
              ? trustDomainError
              : () => null;
  const valuesOk = checkValues(ctx, valuesNode, `${path}.values`, values ?? [], check);
  const notOk = checkValues(ctx, notValuesNode, `${path}.notValues`, notValues ?? [], check);
  if (!valuesOk || !notOk) return null;
  const condition: Condition = { key };
  const inNamespace = (list: string[]) =>
    parsed.attribute.value === 'service-account' ? list.map((v) => serviceAccountIn(ctx, v)) : list;
  if (values?.length) condition.values = inNamespace(values);
  if (notValues?.length) condition.notValues = inNamespace(notValues);
  return condition;
}

/** A list of `- source: {...}` or `- operation: {...}` wrappers. */
function parseWrapped<K extends string>(
  ctx: Ctx,
  node: Node | null | undefined,
  path: string,
  wrapper: string,
  fields: readonly K[],
): { items: Partial<Record<K, string[]>>[]; broken: boolean } {
  const items: Partial<Record<K, string[]>>[] = [];
  if (!isSeq(node)) {
    ctx.r.report(node, ctx.base, path, 'invalid_type', `${path} must be a list`);
    return { items, broken: true };
  }
  let broken = false;
  for (const [i, item] of node.items.entries()) {
    const itemPath = `${path}[${i}]`;
    const entries = mapEntries(ctx, item as Node, itemPath);
    if (entries === null) {
      broken = true;
      continue;
    }
    let inner: Node | null | undefined;
    for (const pair of entries) {
      if (keyOf(pair) === wrapper) inner = pair.value;
      else {
        const p = `${itemPath}.${keyOf(pair)}`;
        ctx.r.report(pair.key as Node, ctx.base, p, 'unknown_field', `unknown field ${p}`);
        broken = true;
      }
    }
    if (inner === undefined) {
      ctx.r.report(
        item as Node,
        ctx.base,
        `${itemPath}.${wrapper}`,
        'missing_field',
        `${itemPath}.${wrapper} is required`,
      );
      broken = true;
      continue;
    }
    const parsed = parseFields(ctx, inner, `${itemPath}.${wrapper}`, fields);
    broken ||= parsed.broken;
    // A block whose every field was bad is left out; if it was the only one, the rule's
    // `from`/`to` disappears and, for DENY, the rule widens (fail safe).
    if (Object.keys(parsed.value).length > 0) items.push(parsed.value);
  }
  return { items, broken };
}

function parseRule(ctx: Ctx, node: Node | null | undefined, path: string): Rule {
  const rule: Rule = {};
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) {
    // A bare `-` would otherwise read as `{}`, the rule that matches everything.
    ctx.r.report(
      node,
      ctx.base,
      path,
      'invalid_type',
      `${path} is empty; write {} for a rule that matches every request`,
    );
    return { broken: `${path} is empty` };
  }
  const entries = mapEntries(ctx, node, path);
  if (entries === null) return { broken: `${path} is not a mapping` };
  const broken: string[] = [];
  for (const pair of entries) {
    const key = keyOf(pair);
    const p = `${path}.${key}`;
    if (key === 'from') {
      const { items, broken: b } = parseWrapped(ctx, pair.value, p, 'source', sourceFields);
      if (items.length > 0) rule.from = items;
      if (b) broken.push(p);
    } else if (key === 'to') {
      const { items, broken: b } = parseWrapped(ctx, pair.value, p, 'operation', operationFields);
      if (items.length > 0) rule.to = items;
      if (b) broken.push(p);
    } else if (key === 'when') {
      if (!isSeq(pair.value)) {
        ctx.r.report(pair.value, ctx.base, p, 'invalid_type', `${p} must be a list`);
        broken.push(p);
        continue;
      }
      const when: Condition[] = [];
      for (const [i, item] of pair.value.items.entries()) {
        const c = parseCondition(ctx, item as Node, `${p}[${i}]`);
        if (c) when.push(c);
        else broken.push(`${p}[${i}]`);
      }
      if (when.length > 0) rule.when = when;
    } else {
      ctx.r.report(pair.key as Node, ctx.base, p, 'unknown_field', `unknown field ${p}`);
      broken.push(p);
    }
  }
  if (broken.length > 0) rule.broken = `invalid ${broken.join(', ')}`;
  return rule;
}

function parseSelector(ctx: Ctx, node: Node | null | undefined, path: string): Record<string, string> | null {
  const entries = mapEntries(ctx, node, path);
  if (entries === null) return null;
  let labels: Record<string, string> | null = {};
  for (const pair of entries) {
    const key = keyOf(pair);
    if (key !== 'matchLabels') {
      ctx.r.report(
        pair.key as Node,
        ctx.base,
        `${path}.${key}`,
        'unknown_field',
        `unknown field ${path}.${key}`,
      );
      labels = null;
      continue;
    }
    const inner = mapEntries(ctx, pair.value, `${path}.matchLabels`);
    if (inner === null) return null;
    for (const label of inner) {
      const value = scalarString(ctx, label.value, `${path}.matchLabels.${keyOf(label)}`);
      if (value === null) labels = null;
      else if (labels) labels[keyOf(label)] = value;
    }
  }
  return labels;
}

const specFields = new Set(['selector', 'action', 'provider', 'rules', 'targetRef', 'targetRefs']);

/** Reports an Istio dry-run annotation: Istio would evaluate the policy without enforcing it. */
function checkAnnotations(ctx: Ctx, node: Node | null | undefined): boolean {
  for (const pair of mapEntries(ctx, node, 'metadata.annotations') ?? []) {
    if (keyOf(pair) !== DRY_RUN_ANNOTATION) continue;
    const value = isScalar(pair.value) ? String(pair.value.value) : '';
    if (value === 'false') continue;
    ctx.r.report(
      pair.key as Node,
      ctx.base,
      `metadata.annotations.${DRY_RUN_ANNOTATION}`,
      'unsupported_field',
      `metadata.annotations["${DRY_RUN_ANNOTATION}"] is not supported: Istio evaluates such a policy ` +
        'and only logs what it would decide, never enforcing it; Warden would enforce it, so submit ' +
        'it without the annotation with `warden apply --dry-run`',
    );
    return false;
  }
  return true;
}

function parseDocument(
  ctx: Ctx,
  root: Node | null | undefined,
  index: number,
  defaultNamespace: string | undefined,
): AuthorizationPolicy | null {
  const entries = mapEntries(ctx, root, `document[${index}]`);
  if (entries === null) return null;
  const fields = new Map(entries.map((p) => [keyOf(p), p] as const));
  for (const [key, pair] of fields) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key))
      ctx.r.report(pair.key as Node, ctx.base, key, 'unknown_field', `unknown field ${key}`);
  }
  const line = ctx.r.at(root?.range?.[0] ?? ctx.base).line;
  const required = (key: string): string | null => {
    const pair = fields.get(key);
    if (pair) return scalarString(ctx, pair.value, key);
    ctx.r.report(root, ctx.base, key, 'missing_field', `${key} is required`);
    return null;
  };
  const apiVersion = required('apiVersion');
  const kind = required('kind');
  if (apiVersion !== null && !(apiVersions as readonly string[]).includes(apiVersion)) {
    ctx.r.report(
      fields.get('apiVersion')?.value,
      ctx.base,
      'apiVersion',
      'unsupported_api_version',
      `apiVersion ${JSON.stringify(apiVersion)} is not one of ${apiVersions.join(', ')}`,
    );
    return null;
  }
  if (kind !== null && kind !== 'AuthorizationPolicy') {
    ctx.r.report(
      fields.get('kind')?.value,
      ctx.base,
      'kind',
      'unsupported_kind',
      `kind must be AuthorizationPolicy`,
    );
    return null;
  }
  if (apiVersion === null || kind === null) return null;

  let name: string | null = null;
  let namespace: string | null = null;
  let dryRunRefused = false;
  let namespaceWritten = false;
  const metadata = fields.get('metadata');
  for (const pair of (metadata ? mapEntries(ctx, metadata.value, 'metadata') : []) ?? []) {
    const key = keyOf(pair);
    if (key === 'name') name = scalarString(ctx, pair.value, 'metadata.name');
    else if (key === 'namespace') {
      namespaceWritten = true;
      namespace = scalarString(ctx, pair.value, 'metadata.namespace');
    } else if (key === 'annotations') dryRunRefused ||= !checkAnnotations(ctx, pair.value);
    else if (!metadataFields.has(key))
      ctx.r.report(
        pair.key as Node,
        ctx.base,
        `metadata.${key}`,
        'unknown_field',
        `unknown field metadata.${key}`,
      );
  }
  if (!metadata) ctx.r.report(root, ctx.base, 'metadata', 'missing_field', 'metadata is required');
  // Without a name and namespace the policy cannot be traced or scoped; nothing to evaluate.
  if (name === null || name === '') {
    if (metadata)
      ctx.r.report(metadata.value, ctx.base, 'metadata.name', 'missing_field', 'metadata.name is required');
    return null;
  }
  // Like kubectl, a policy without a namespace goes to the one the caller names (`apply -n`).
  if (namespace === '' || (namespace === null && !namespaceWritten)) namespace = defaultNamespace ?? null;
  if (namespace === null || namespace === '') {
    ctx.r.report(
      metadata?.value,
      ctx.base,
      'metadata.namespace',
      'missing_field',
      'metadata.namespace is required',
    );
    return null;
  }

  const policy: AuthorizationPolicy = {
    apiVersion: apiVersion as AuthorizationPolicy['apiVersion'],
    name,
    namespace,
    action: 'ALLOW',
    rules: [],
    line,
  };
  const brokenBecause: string[] = [];
  const spec = fields.get('spec');
  const specEntries = mapEntries(ctx, spec?.value, 'spec');
  if (specEntries === null) brokenBecause.push('spec is not a mapping');
  let rulesNode: Node | null | undefined;
  for (const pair of specEntries ?? []) {
    const key = keyOf(pair);
    const p = `spec.${key}`;
    if (!specFields.has(key)) {
      ctx.r.report(pair.key as Node, ctx.base, p, 'unknown_field', `unknown field ${p}`);
      brokenBecause.push(`unknown field ${p}`);
    } else if (key === 'targetRef' || key === 'targetRefs') {
      // Gateway targeting has no meaning for Warden's decision points; refusing it beats
      // silently treating the policy as namespace-wide.
      ctx.r.report(
        pair.key as Node,
        ctx.base,
        p,
        'unsupported_field',
        `${p} is not supported: Istio attaches such a policy to the Gateway, Service or ServiceEntry ` +
          "it names (enforced by that gateway or waypoint proxy, not by the workloads' sidecars); " +
          'Warden decides per workload, so select the workloads with spec.selector',
      );
      brokenBecause.push(`unsupported ${p}`);
    } else if (key === 'action') {
      const action = scalarString(ctx, pair.value, p);
      if (action !== null && actions.has(action)) policy.action = action as AuthorizationPolicy['action'];
      else {
        // A policy whose action is unknown cannot be trusted to narrow anything: it is compiled
        // as DENY for its whole scope (fail closed) and the text is rejected.
        policy.action = 'DENY';
        if (action !== null)
          ctx.r.report(
            pair.value,
            ctx.base,
            p,
            'unknown_action',
            `unknown action ${JSON.stringify(action)} (ALLOW, DENY, AUDIT or CUSTOM)`,
          );
        brokenBecause.push('unknown action');
      }
    } else if (key === 'selector') {
      const selector = parseSelector(ctx, pair.value, p);
      if (selector === null) brokenBecause.push('invalid selector');
      else if (Object.keys(selector).length > 0) policy.selector = selector;
    } else if (key === 'provider') {
      for (const inner of mapEntries(ctx, pair.value, p) ?? []) {
        if (keyOf(inner) === 'name') {
          const provider = scalarString(ctx, inner.value, `${p}.name`);
          if (provider) policy.provider = provider;
        } else
          ctx.r.report(
            inner.key as Node,
            ctx.base,
            `${p}.${keyOf(inner)}`,
            'unknown_field',
            `unknown field ${p}.${keyOf(inner)}`,
          );
      }
    } else {
      rulesNode = pair.value;
    }
  }
  if (policy.action === 'CUSTOM' && !policy.provider) {
    ctx.r.report(
      spec?.value,
      ctx.base,
      'spec.provider',
      'missing_field',
      'a CUSTOM policy needs spec.provider.name',
    );
    brokenBecause.push('CUSTOM without provider');
  }
  if (policy.action !== 'CUSTOM' && policy.provider !== undefined) {
    ctx.r.report(
      spec?.value,
      ctx.base,
      'spec.provider',
      'invalid_field',
      'spec.provider is only allowed with action CUSTOM',
    );
    brokenBecause.push('provider without CUSTOM');
  }
  if (rulesNode !== undefined && rulesNode !== null) {
    if (!isSeq(rulesNode)) {
      ctx.r.report(rulesNode, ctx.base, 'spec.rules', 'invalid_type', 'spec.rules must be a list');
      brokenBecause.push('spec.rules is not a list');
    } else {
      const inPolicy: Ctx = { ...ctx, namespace };
      for (const [i, item] of rulesNode.items.entries())
        policy.rules.push(parseRule(inPolicy, item as Node, `spec.rules[${i}]`));
    }
  }
  if (dryRunRefused) brokenBecause.push(`unsupported ${DRY_RUN_ANNOTATION} annotation`);
  if (brokenBecause.length > 0) policy.broken = brokenBecause.join('; ');
  return policy;
}

/**
 * Parses every document of `text`. Empty and comment-only documents are skipped; a policy without
 * `metadata.namespace` gets `options.namespace`.
 */
export function parseAuthorizationPolicies(text: string, options: ParseOptions = {}): ParseResult {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const maxDocuments = options.maxDocuments ?? 10_000;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    return {
      policies: [],
      issues: [
        {
          code: 'too_large',
          message: `policy text is ${size} bytes, the limit is ${maxBytes}`,
          line: 1,
          column: 1,
          path: '',
        },
      ],
    };
  }
  const lines = new LineCounter();
  const r = new Reporter(lines);
  // uniqueKeys: a repeated key is an error, not "last one wins" (a classic way to hide a rule).
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > maxDocuments) {
    r.report(null, 0, '', 'too_many_documents', `${list.length} documents, the limit is ${maxDocuments}`);
    return { policies: [], issues: r.issues };
  }
  const policies: AuthorizationPolicy[] = [];
  for (const [index, doc] of list.entries()) {
    const base = doc.range[0];
    if (doc.errors.length > 0) {
      for (const e of doc.errors)
        r.report(null, e.pos[0], `document[${index}]`, 'yaml_syntax', e.message.split('\n')[0] ?? e.code);
      continue;
    }
    // Empty and comment-only documents (a trailing `---`, `--- # note`), and an explicit null
    // document, hold no object: kubectl and Istio skip them.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const policy = parseDocument({ r, base }, doc.contents as Node, index, options.namespace);
    if (policy) policies.push(policy);
  }
  const seen = new Map<string, number>();
  for (const p of policies) {
    const id = `${p.namespace}/${p.name}`;
    if (seen.has(id))
      r.report(
        null,
        0,
        '',
        'duplicate_policy',
        `policy ${id} appears twice (lines ${seen.get(id)} and ${p.line})`,
      );
    else seen.set(id, p.line ?? 0);
  }
  return { policies, issues: r.issues };
}
