import { parseDocument } from 'yaml';
import type { DataOf } from '@warden/events';
import type { policySubmit } from '@warden/events';
import {
  compileRego,
  parseAuthorizationPolicies,
  PolicyRejectedError,
  PolicyRevision,
} from '@warden/policy-engine';
import type { Issue } from '@warden/policy-engine';
import type { Bundle } from '@warden/policy-store';

export type Submission = DataOf<typeof policySubmit>;

/** One policy, ready to store: its key, compiled bundle, and the text it came from. */
export type CompiledPolicy = { key: string; kind: Bundle['kind']; bundle: Bundle; source: string };

export type CompileResult = { ok: true; policies: CompiledPolicy[] } | { ok: false; issues: Issue[] };

export type CompileOptions = { opa: string; timeoutMs: number };

const OPA_ENVOY_DEFAULT_ENTRYPOINT = 'envoy/authz/allow';
const MESH_KEY = 'mesh-defaults.mesh.default';

/** Validates and compiles one submission (not a rollback) into storable policies. */
export async function compileSubmission(
  submission: Exclude<Submission, { kind: 'rollback' }>,
  options: CompileOptions,
): Promise<CompileResult> {
  switch (submission.kind) {
    case 'authorization-policy':
      return compileAuthorization(submission.text, submission.file);
    case 'rego':
      return compileRegoSubmission(submission, options);
    case 'mesh-defaults':
      return compileMeshDefaults(submission.text, submission.file);
  }
}

function compileAuthorization(text: string, file: string | undefined): CompileResult {
  const { policies, issues } = parseAuthorizationPolicies(text);
  if (issues.length > 0) return { ok: false, issues: issues.map((i) => (file ? { ...i, file } : i)) };
  if (policies.length === 0)
    return { ok: false, issues: [issue('empty', 'no AuthorizationPolicy in the text', file)] };
  const seen = new Set<string>();
  const out: CompiledPolicy[] = [];
  for (const policy of policies) {
    const key = `authorization-policy.${policy.namespace}.${policy.name}`;
    if (seen.has(key)) {
      return {
        ok: false,
        issues: [issue('duplicate', `${policy.namespace}/${policy.name} appears twice`, file, policy.line)],
      };
    }
    seen.add(key);
    out.push({
      key,
      kind: 'authorization-policy',
      bundle: { kind: 'authorization-policy', policy: policy as unknown as Record<string, unknown> },
      source: text,
    });
  }
  // Building the index proves the set compiles before anyone is told it is committed.
  new PolicyRevision(policies);
  return { ok: true, policies: out };
}

async function compileRegoSubmission(
  submission: Extract<Submission, { kind: 'rego' }>,
  options: CompileOptions,
): Promise<CompileResult> {
  const entrypoint = submission.entrypoint ?? OPA_ENVOY_DEFAULT_ENTRYPOINT;
  const name = submission.name ?? packageName(submission.text);
  if (!name) {
    return {
      ok: false,
      issues: [issue('no_name', 'the module has no package line and no name was given', submission.file)],
    };
  }
  try {
    const compiled = await compileRego(
      { module: submission.text, entrypoint, fileName: submission.file ?? `${name}.rego` },
      { opa: options.opa, timeoutMs: options.timeoutMs },
    );
    return {
      ok: true,
      policies: [
        {
          key: `rego.mesh.${name}`,
          kind: 'rego',
          bundle: {
            kind: 'rego',
            name,
            entrypoint: compiled.entrypoint,
            regoVersion: compiled.regoVersion,
            wasmBase64: compiled.wasm.toString('base64'),
            ...(submission.data ? { data: submission.data } : {}),
          },
          source: submission.text,
        },
      ],
    };
  } catch (err) {
    if (err instanceof PolicyRejectedError) return { ok: false, issues: [...err.issues] };
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

function compileMeshDefaults(text: string, file: string | undefined): CompileResult {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const errors = doc.errors.map((e) =>
    issue('yaml', e.message, file, e.linePos?.[0]?.line, e.linePos?.[0]?.col),
  );
  if (errors.length > 0) return { ok: false, issues: errors };
  const value: unknown = doc.toJS();
  const problems: Issue[] = [];
  const record =
    value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  if (!record) return { ok: false, issues: [issue('schema', 'mesh defaults must be a mapping', file)] };
  for (const key of Object.keys(record)) {
    if (!['rootNamespace', 'default', 'namespaces'].includes(key))
      problems.push(issue('unknown_field', `unknown field ${key}`, file, lineOf(text, doc, key)));
  }
  const decision = (v: unknown): v is 'allow' | 'deny' => v === 'allow' || v === 'deny';
  if (!decision(record['default']))
    problems.push(issue('schema', 'default must be allow or deny', file, lineOf(text, doc, 'default')));
  const root = record['rootNamespace'] ?? 'istio-system';
  if (typeof root !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(root)) {
    problems.push(
      issue('schema', 'rootNamespace must be a namespace name', file, lineOf(text, doc, 'rootNamespace')),
    );
  }
  const namespaces: Record<string, 'allow' | 'deny'> = {};
  const given = record['namespaces'] ?? {};
  if (!given || typeof given !== 'object' || Array.isArray(given)) {
    problems.push(
      issue(
        'schema',
        'namespaces must map a namespace to allow or deny',
        file,
        lineOf(text, doc, 'namespaces'),
      ),
    );
  } else {
    for (const [ns, v] of Object.entries(given)) {
      if (decision(v)) namespaces[ns] = v;
      else
        problems.push(
          issue('schema', `namespaces.${ns} must be allow or deny`, file, lineOf(text, doc, 'namespaces')),
        );
    }
  }
  if (problems.length > 0) return { ok: false, issues: problems };
  return {
    ok: true,
    policies: [
      {
        key: MESH_KEY,
        kind: 'mesh-defaults',
        bundle: {
          kind: 'mesh-defaults',
          meshDefault: {
            rootNamespace: root as string,
            default: record['default'] as 'allow' | 'deny',
            namespaces,
          },
        },
        source: text,
      },
    ],
  };
}

function lineOf(text: string, doc: ReturnType<typeof parseDocument>, key: string): number {
  const node = doc.get(key, true) as { range?: [number, number, number] } | undefined;
  const offset = node?.range?.[0];
  if (offset === undefined) return 1;
  return text.slice(0, offset).split('\n').length;
}

function issue(code: string, message: string, file?: string, line = 1, column = 1): Issue {
  return { code, message, line, column, path: '', ...(file ? { file } : {}) };
}
