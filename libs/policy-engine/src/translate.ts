/**
 * Policy texts → bundles. A submission declares its kind; `translators` holds one translator per
 * kind, so nothing is guessed from the text. `declaredKind` reads that kind from a file as a person
 * wrote it: `.rego` is Rego, a YAML file says it in `kind:` (AuthorizationPolicy or MeshDefaults).
 */
import { extname } from 'node:path';
import { isMap, isScalar, parseAllDocuments } from 'yaml';
import { hintUnsafeVariables } from './analysis/rego-hints.ts';
import { MESH_DEFAULTS_KIND, parseMeshDefault } from './authz/mesh-default.ts';
import { parseAuthorizationPolicies } from './authz/parse.ts';
import { PolicyRevision } from './authz/revision.ts';
import { BundleKind, bundleKinds } from './bundle.ts';
import type { PolicyBundle } from './bundle.ts';
import type { Issue } from './errors.ts';
import { PolicyRejectedError, RegoLoadError, UnknownKindError } from './errors.ts';
import { checkDataLimits, DEFAULT_POLICY_LIMITS } from './limits.ts';
import type { PolicyLimits } from './limits.ts';
import { compileRego } from './rego/compile.ts';
import type { RegoCompileOptions } from './rego/compile.ts';
import { RegoPolicy } from './rego/policy.ts';

/** One submitted policy text and what its kind needs besides. */
export type PolicyText = {
  text: string;
  /** The file it came from, for positions. */
  file?: string;
  /** Rego: the key name (default: from the package line). */
  name?: string;
  /** Rego: the decision rule, slash-separated (default OPA-Envoy's `envoy/authz/allow`). */
  entrypoint?: string;
  /** Rego: the `data` document. */
  data?: Record<string, unknown>;
  /** AuthorizationPolicy: the namespace of a policy without `metadata.namespace`. */
  namespace?: string;
};

export type TranslateOptions = Pick<RegoCompileOptions, 'opa' | 'timeoutMs'> & {
  /** Limits on a Rego submission's `data`; default `DEFAULT_POLICY_LIMITS`. */
  limits?: PolicyLimits;
  /** The Wasm memory decision points give a policy, in 64 KiB pages; a policy that needs more is refused. */
  maxMemoryPages?: number;
};

/**
 * One policy, ready to store under `<kind>.<namespace>.<name>`: the namespace of an
 * AuthorizationPolicy, `mesh` for what applies mesh-wide.
 */
export type TranslatedPolicy = { namespace: string; name: string; bundle: PolicyBundle; source: string };

export type Translation = { ok: true; policies: TranslatedPolicy[] } | { ok: false; issues: Issue[] };

export type Translator = (input: PolicyText, options: TranslateOptions) => Promise<Translation>;

/** The namespace part of the key of a policy that applies mesh-wide. */
export const MESH_SCOPE = 'mesh';
const OPA_ENVOY_DEFAULT_ENTRYPOINT = 'envoy/authz/allow';

function issue(code: string, message: string, file?: string, line = 1, column = 1): Issue {
  return { code, message, line, column, path: '', ...(file ? { file } : {}) };
}

/** AuthorizationPolicy YAML (one or many documents), all or nothing. */
async function translateAuthorizationPolicies(input: PolicyText): Promise<Translation> {
  const { text, file } = input;
  const { policies, issues } = parseAuthorizationPolicies(
    text,
    input.namespace ? { namespace: input.namespace } : {},
  );
  if (issues.length > 0) return { ok: false, issues: issues.map((i) => (file ? { ...i, file } : i)) };
  if (policies.length === 0)
    return { ok: false, issues: [issue('empty', 'no AuthorizationPolicy in the text', file)] };
  // Building the index proves the set compiles before anyone is told it is committed.
  new PolicyRevision(policies);
  return {
    ok: true,
    policies: policies.map((policy) => ({
      namespace: policy.namespace,
      name: policy.name,
      bundle: { kind: BundleKind.authorizationPolicy, policy },
      source: text,
    })),
  };
}

/** One Rego module, compiled to Wasm by `opa build`. */
async function translateRego(input: PolicyText, options: TranslateOptions): Promise<Translation> {
  const entrypoint = input.entrypoint ?? OPA_ENVOY_DEFAULT_ENTRYPOINT;
  const name = input.name ?? packageName(input.text);
  if (!name) {
    return {
      ok: false,
      issues: [issue('no_name', 'the module has no package line and no name was given', input.file)],
    };
  }
  const file = input.file ?? `${name}.rego`;
  const tooMuch = checkDataLimits(input.data, options.limits ?? DEFAULT_POLICY_LIMITS, file);
  if (tooMuch.length > 0) return { ok: false, issues: tooMuch };
  try {
    const compiled = await compileRego(
      { module: input.text, entrypoint, fileName: file },
      { opa: options.opa, timeoutMs: options.timeoutMs },
    );
    // Loaded once here, with its data and the decision points' memory limit, so a revision is
    // never committed that no decision point can run.
    try {
      await RegoPolicy.load(compiled, {
        ...(input.data ? { data: input.data } : {}),
        ...(options.maxMemoryPages ? { maxMemoryPages: options.maxMemoryPages } : {}),
      });
    } catch (err) {
      if (!(err instanceof RegoLoadError)) throw err;
      return { ok: false, issues: [issue(err.code, err.message, file)] };
    }
    const bundle: PolicyBundle = {
      kind: BundleKind.rego,
      name,
      entrypoint: compiled.entrypoint,
      regoVersion: compiled.regoVersion,
      wasmBase64: compiled.wasm.toString('base64'),
      ...(input.data ? { data: input.data } : {}),
    };
    return { ok: true, policies: [{ namespace: MESH_SCOPE, name, bundle, source: input.text }] };
  } catch (err) {
    if (err instanceof PolicyRejectedError)
      return { ok: false, issues: hintUnsafeVariables(input.text, err.issues) };
    throw err;
  }
}

/** `package envoy.authz` → `envoy-authz`: a DNS-label key name. */
function packageName(text: string): string | null {
  const match = /^\s*package\s+([A-Za-z_][\w.]*)/m.exec(text);
  if (!match?.[1]) return null;
  const name = match[1].toLowerCase().replace(/[._]/g, '-').slice(0, 63).replace(/-+$/, '');
  return name || null;
}

/** The mesh defaults (one YAML document). */
async function translateMeshDefaults(input: PolicyText): Promise<Translation> {
  const parsed = parseMeshDefault(input.text, input.file);
  if (!parsed.ok) return parsed;
  const bundle: PolicyBundle = { kind: BundleKind.meshDefaults, meshDefault: parsed.meshDefault };
  return { ok: true, policies: [{ namespace: MESH_SCOPE, name: 'default', bundle, source: input.text }] };
}

/** One translator per declared kind. */
export const translators: { readonly [K in BundleKind]: Translator } = {
  [BundleKind.authorizationPolicy]: translateAuthorizationPolicies,
  [BundleKind.rego]: translateRego,
  [BundleKind.meshDefaults]: translateMeshDefaults,
};

/** The translator of a declared kind; undefined for a kind Warden does not translate. */
export function translatorFor(kind: string): Translator | undefined {
  const known = bundleKinds.find((k) => k === kind);
  return known ? translators[known] : undefined;
}

/** The YAML `kind:` of each kind written as YAML. */
export const yamlKinds: Readonly<Record<string, BundleKind>> = {
  AuthorizationPolicy: BundleKind.authorizationPolicy,
  [MESH_DEFAULTS_KIND]: BundleKind.meshDefaults,
};

const yamlExtensions = ['.yaml', '.yml'];
/** The extensions of the files a policy folder holds. */
export const policyFileExtensions: readonly string[] = ['.rego', ...yamlExtensions];
const expected = `.rego for Rego, .yaml or .yml with kind: ${Object.keys(yamlKinds).join(' or ')}`;

/**
 * The kind a policy file declares: its extension, and for YAML the `kind:` of its documents (one
 * kind per file). Throws `UnknownKindError` when the file states none, or one Warden does not know.
 * A document whose `kind:` a YAML error hides is left to the translator (which reports the error
 * with its position) when another document states the kind; otherwise the error is the answer.
 */
export function declaredKind(file: string, text: string): BundleKind {
  const extension = extname(file);
  if (extension === '.rego') return BundleKind.rego;
  if (!yamlExtensions.includes(extension))
    throw new UnknownKindError(
      `${file}: cannot tell its kind from ${extension || 'no extension'}; ${expected}`,
    );
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const kinds = new Set<BundleKind>();
  let unreadable: string | undefined;
  for (const doc of Array.isArray(docs) ? docs : []) {
    // Empty, comment-only and null documents hold no object (kubectl skips them).
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const kind: unknown = isMap(doc.contents) ? doc.get('kind') : undefined;
    const known = typeof kind === 'string' && Object.hasOwn(yamlKinds, kind) ? yamlKinds[kind] : undefined;
    const error = doc.errors[0];
    if (!known && error) {
      const [line, column] = error.linePos?.[0] ? [error.linePos[0].line, error.linePos[0].col] : [1, 1];
      unreadable ??= `${file}:${line}:${column}: ${error.message}`;
      continue;
    }
    if (!known) {
      const stated = kind === undefined ? 'no kind: field' : `kind ${JSON.stringify(kind)}`;
      throw new UnknownKindError(`${file}: a document has ${stated}; ${expected}`);
    }
    kinds.add(known);
  }
  const [kind, other] = kinds;
  if (other) throw new UnknownKindError(`${file}: holds more than one kind; one file holds one kind`);
  if (kind) return kind;
  throw new UnknownKindError(unreadable ?? `${file}: holds no policy; ${expected}`);
}
