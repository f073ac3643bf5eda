/**
 * The golden semantics suite: every `testdata/authz/*.yaml` is one case with the policies, one
 * request and the decision Istio's documentation says it gets (each file cites its source). The
 * expectations are written by hand from the documentation, so there is deliberately no switch to
 * rewrite them from the engine's output.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_ROOT_NAMESPACE } from './model.ts';
import type { AuthzRequest, MeshDefault } from './model.ts';
import { parseAuthorizationPolicies } from './parse.ts';
import { PolicyRevision } from './revision.ts';
import type { CustomProvider } from './revision.ts';

const dir = fileURLToPath(new URL('../../testdata/authz/', import.meta.url));

type Case = {
  description: string;
  meshDefault?: 'allow' | 'deny';
  namespaceDefaults?: Record<string, 'allow' | 'deny'>;
  rootNamespace?: string;
  providers?: Record<string, 'allow' | 'deny'>;
  policies: string;
  request: AuthzRequest;
  expect: { decision: 'allow' | 'deny'; policy?: string | null; reason?: string; audit?: string[] };
};

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('the suite has at least 60 cases', () => {
  assert.ok(files.length >= 60, `only ${files.length} cases`);
});

for (const file of files) {
  test(file.replace(/\.yaml$/, ''), () => {
    const c = parse(readFileSync(`${dir}${file}`, 'utf8')) as Case;
    const { policies, issues } = parseAuthorizationPolicies(c.policies ?? '');
    assert.deepEqual(issues, [], 'the policies of a semantics case must be valid');
    const meshDefault: MeshDefault = {
      rootNamespace: c.rootNamespace ?? DEFAULT_ROOT_NAMESPACE,
      default: c.meshDefault ?? 'deny',
      namespaces: c.namespaceDefaults ?? {},
    };
    const providers = new Map<string, CustomProvider>(
      Object.entries(c.providers ?? {}).map(([name, verdict]) => [
        name,
        () => ({ allowed: verdict === 'allow', reason: `test provider says ${verdict}` }),
      ]),
    );
    const decision = new PolicyRevision(policies, { meshDefault, providers }).decide(c.request);
    const got = {
      decision: decision.allowed ? 'allow' : 'deny',
      ...('policy' in c.expect ? { policy: decision.policy } : {}),
      ...(c.expect.reason !== undefined ? { reason: decision.reason } : {}),
      ...(c.expect.audit !== undefined ? { audit: decision.audit } : {}),
    };
    assert.deepEqual(got, c.expect, `${c.description}\n${decision.message}`);
  });
}
