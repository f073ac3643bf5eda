/**
 * The compiled form of one policy, as the policy service stores it (object store
 * `warden-bundles`, canonical JSON named by its digest) and every decision point reads it back:
 * one type per kind, written by the translators (`translate.ts`) and checked by `parsePolicyBundle`
 * when read, since stored data is input. `buildPolicyRevision` turns a revision's bundles into the
 * engine's `PolicyRevision`.
 */
import { buildEnvoyInput } from './rego/input.ts';
import { RegoPolicy, renderRegoError } from './rego/policy.ts';
import { Action, apiVersions, operationFields, sourceFields } from './authz/model.ts';
import type { AuthorizationPolicy, MeshDefault, Operation, Source } from './authz/model.ts';
import { checkMeshDefault } from './authz/mesh-default.ts';
import { PolicyRevision } from './authz/revision.ts';
import type { CustomProvider } from './authz/revision.ts';
import type { Checker } from './check.ts';
import { integer, isPlainObject, jsonObject, list, object, oneOf, record, string } from './check.ts';
import { InvalidBundleError } from './errors.ts';

/** The kinds of policy Warden translates, one translator and one bundle shape each. */
export const BundleKind = {
  authorizationPolicy: 'authorization-policy',
  rego: 'rego',
  meshDefaults: 'mesh-defaults',
} as const;
export type BundleKind = (typeof BundleKind)[keyof typeof BundleKind];
export const bundleKinds = [
  BundleKind.authorizationPolicy,
  BundleKind.rego,
  BundleKind.meshDefaults,
] as const;

/** One AuthorizationPolicy as the parser understood it. */
export type AuthorizationPolicyBundle = { kind: 'authorization-policy'; policy: AuthorizationPolicy };

/** One Rego module compiled to Wasm (base64 inside the JSON), the CUSTOM provider named `name`. */
export type RegoBundle = {
  kind: 'rego';
  name: string;
  entrypoint: string;
  regoVersion: 'v1' | 'v0';
  wasmBase64: string;
  data?: Record<string, unknown>;
};

/** The mesh defaults of the revision. */
export type MeshDefaultsBundle = { kind: 'mesh-defaults'; meshDefault: MeshDefault };

export type PolicyBundle = AuthorizationPolicyBundle | RegoBundle | MeshDefaultsBundle;

const stringList = list(string);
const listFields = <K extends string>(names: readonly K[]): Record<K, Checker<string[]>> =>
  Object.fromEntries(names.map((n) => [n, stringList])) as Record<K, Checker<string[]>>;

const source: Checker<Source> = object({}, listFields(sourceFields));
const operation: Checker<Operation> = object({}, listFields(operationFields));
const condition = object({ key: string }, { values: stringList, notValues: stringList });
const rule = object({}, { from: list(source), to: list(operation), when: list(condition), broken: string });

const authorizationPolicy: Checker<AuthorizationPolicy> = object(
  {
    apiVersion: oneOf(apiVersions),
    name: string,
    namespace: string,
    action: oneOf(Object.values(Action)),
    rules: list(rule),
  },
  { selector: record(string), provider: string, broken: string, line: integer },
);

const meshDefault: Checker<MeshDefault> = (value, path) => {
  if (!isPlainObject(value)) throw new InvalidBundleError(`${path} must be a mapping`);
  const checked = checkMeshDefault(value, { written: false });
  if (checked.ok) return checked.meshDefault;
  throw new InvalidBundleError(`${path}: ${checked.problems.map((p) => p.message).join('; ')}`);
};

const checkers: { readonly [K in BundleKind]: Checker<Extract<PolicyBundle, { kind: K }>> } = {
  'authorization-policy': object({ kind: oneOf(['authorization-policy']), policy: authorizationPolicy }),
  rego: object(
    {
      kind: oneOf(['rego']),
      name: string,
      entrypoint: string,
      regoVersion: oneOf(['v1', 'v0']),
      wasmBase64: string,
    },
    { data: jsonObject },
  ),
  'mesh-defaults': object({ kind: oneOf(['mesh-defaults']), meshDefault }),
};

/** Checks a bundle read back from storage; throws `InvalidBundleError` naming the field at fault. */
export function parsePolicyBundle(value: unknown): PolicyBundle {
  const kind = isPlainObject(value) ? value['kind'] : undefined;
  const known = bundleKinds.find((k) => k === kind);
  if (!known) throw new InvalidBundleError(`kind must be one of ${bundleKinds.join(', ')}`);
  return checkers[known](value, '');
}

/**
 * Builds the engine revision of a stored policy set: its AuthorizationPolicies in the order given,
 * its mesh defaults, and each Rego bundle as the CUSTOM provider of its name.
 */
export async function buildPolicyRevision(
  bundles: Iterable<PolicyBundle>,
  options: { revision: number },
): Promise<PolicyRevision> {
  const policies: AuthorizationPolicy[] = [];
  const providers = new Map<string, CustomProvider>();
  let meshDefault: MeshDefault | undefined;
  for (const bundle of bundles) {
    if (bundle.kind === 'authorization-policy') policies.push(bundle.policy);
    else if (bundle.kind === 'mesh-defaults') meshDefault = bundle.meshDefault;
    else providers.set(bundle.name, await regoProvider(bundle));
  }
  return new PolicyRevision(policies, {
    revision: options.revision,
    providers,
    ...(meshDefault ? { meshDefault } : {}),
  });
}

async function regoProvider(bundle: RegoBundle): Promise<CustomProvider> {
  const rego = await RegoPolicy.load(
    {
      wasm: Buffer.from(bundle.wasmBase64, 'base64'),
      entrypoint: bundle.entrypoint,
      regoVersion: bundle.regoVersion,
    },
    bundle.data ? { data: bundle.data } : {},
  );
  return (request) => {
    try {
      const decision = rego.evaluate(buildEnvoyInput(request));
      const { httpStatus, headers, responseHeadersToAdd, requestHeadersToRemove, body } = decision;
      return {
        allowed: decision.allowed,
        reason: `rego[${bundle.name}]`,
        response: { httpStatus, headers, responseHeadersToAdd, requestHeadersToRemove, body },
      };
    } catch (err) {
      // Fail closed: a Rego policy that cannot decide denies.
      return {
        allowed: false,
        reason: `rego[${bundle.name}] failed: ${renderRegoError(err)}`,
      };
    }
  };
}
