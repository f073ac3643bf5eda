/**
 * Mesh defaults (ARCHITECTURE §4, step 5): the one schema of `MeshDefault`, the decision when no ALLOW
 * policy selects a workload. People write it as YAML (`kind: MeshDefaults`, then `rootNamespace`,
 * `default` and per-namespace `namespaces`), a bundle carries it compiled, the engine evaluates it:
 * the same fields everywhere, checked by `checkMeshDefault` for the text submitted and for the
 * bundle read back.
 */
import { parseDocument } from 'yaml';
import type { Issue } from '../errors.ts';
import { DEFAULT_ROOT_NAMESPACE } from './model.ts';
import type { MeshDefault } from './model.ts';

/**
 * The YAML `kind:` of a mesh-defaults document. `warden apply` requires it to tell the kinds apart;
 * the parser accepts a document without it, since a submission on the bus declares its kind.
 */
export const MESH_DEFAULTS_KIND = 'MeshDefaults';

const fields = ['rootNamespace', 'default', 'namespaces'] as const;
const namespaceName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const isDecision = (v: unknown): v is 'allow' | 'deny' => v === 'allow' || v === 'deny';

/** A problem with one top-level field of a mesh-defaults mapping. */
export type MeshDefaultProblem = { code: string; message: string; field: string };

export type MeshDefaultCheck =
  { ok: true; meshDefault: MeshDefault } | { ok: false; problems: MeshDefaultProblem[] };

/**
 * Checks a mesh-defaults mapping and returns it as a `MeshDefault` (root namespace defaulted,
 * `namespaces` always present), or every problem found. `kind` is allowed only where a person wrote
 * the text (`written`), never in a stored bundle.
 */
export function checkMeshDefault(
  value: Record<string, unknown>,
  options: { written: boolean },
): MeshDefaultCheck {
  const problems: MeshDefaultProblem[] = [];
  const problem = (code: string, message: string, field: string): void => {
    problems.push({ code, message, field });
  };
  for (const key of Object.keys(value)) {
    if (!(fields as readonly string[]).includes(key) && !(options.written && key === 'kind'))
      problem('unknown_field', `unknown field ${key}`, key);
  }
  if ('kind' in value && options.written && value['kind'] !== MESH_DEFAULTS_KIND)
    problem('schema', `kind must be ${MESH_DEFAULTS_KIND}`, 'kind');
  const decision = value['default'];
  if (!isDecision(decision)) problem('schema', 'default must be allow or deny', 'default');
  const root = value['rootNamespace'] ?? DEFAULT_ROOT_NAMESPACE;
  if (typeof root !== 'string' || !namespaceName.test(root))
    problem('schema', 'rootNamespace must be a namespace name', 'rootNamespace');
  const namespaces: Record<string, 'allow' | 'deny'> = {};
  const given = value['namespaces'] ?? {};
  if (!given || typeof given !== 'object' || Array.isArray(given)) {
    problem('schema', 'namespaces must map a namespace to allow or deny', 'namespaces');
  } else {
    for (const [ns, v] of Object.entries(given)) {
      if (isDecision(v)) namespaces[ns] = v;
      else problem('schema', `namespaces.${ns} must be allow or deny`, 'namespaces');
    }
  }
  if (problems.length > 0 || !isDecision(decision) || typeof root !== 'string')
    return { ok: false, problems };
  return { ok: true, meshDefault: { rootNamespace: root, default: decision, namespaces } };
}

export type MeshDefaultParse = { ok: true; meshDefault: MeshDefault } | { ok: false; issues: Issue[] };

/** Parses mesh-defaults YAML (one document) into a `MeshDefault`, or every issue with its line. */
export function parseMeshDefault(text: string, file?: string): MeshDefaultParse {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const issue = (code: string, message: string, line = 1, column = 1): Issue => ({
    code,
    message,
    line,
    column,
    path: '',
    ...(file ? { file } : {}),
  });
  const errors = doc.errors.map((e) => issue('yaml', e.message, e.linePos?.[0]?.line, e.linePos?.[0]?.col));
  if (errors.length > 0) return { ok: false, issues: errors };
  const value: unknown = doc.toJS();
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { ok: false, issues: [issue('schema', 'mesh defaults must be a mapping')] };
  const checked = checkMeshDefault(value as Record<string, unknown>, { written: true });
  if (checked.ok) return checked;
  const lineOf = (key: string): number => {
    const node = doc.get(key, true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : text.slice(0, offset).split('\n').length;
  };
  return { ok: false, issues: checked.problems.map((p) => issue(p.code, p.message, lineOf(p.field))) };
}
