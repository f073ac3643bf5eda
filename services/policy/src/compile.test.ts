import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileSubmission } from './compile.ts';

type PolicySubmission = Parameters<typeof compileSubmission>[0];

describe('compileSubmission', () => {
  it('compiles with the translator of the declared kind', async () => {
    const text = 'default: allow\n';
    const mesh = await compileSubmission({ kind: 'mesh-defaults', text }, {});
    assert.deepEqual(mesh.ok && mesh.policies.map((p) => p.bundle.kind), ['mesh-defaults']);
    // The same text declared as AuthorizationPolicy YAML is judged as one, not sniffed.
    const authz = await compileSubmission({ kind: 'authorization-policy', text }, {});
    assert.equal(authz.ok, false);
  });

  it('rejects a kind it has no translator for, saying so', async () => {
    // What the bus schema would refuse, as if it had arrived anyway.
    const submission = JSON.parse('{"kind":"python","text":"print(1)"}') as PolicySubmission;
    const result = await compileSubmission(submission, {});
    assert.ok(!result.ok);
    assert.deepEqual(
      result.issues.map((i) => [i.code, i.message]),
      [['unknown_kind', 'unknown policy kind "python"; one of authorization-policy, rego, mesh-defaults']],
    );
  });
});
