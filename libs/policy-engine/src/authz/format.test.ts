import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { formatAuthorizationPolicies } from './format.ts';
import type { AuthorizationPolicy } from './model.ts';
import { parseAuthorizationPolicies } from './parse.ts';

const withoutPositions = (policies: readonly AuthorizationPolicy[]): AuthorizationPolicy[] =>
  policies.map(({ line: _line, ...rest }) => rest);

describe('formatAuthorizationPolicies', () => {
  it('round-trips every valid policy of the semantics suite', () => {
    const dir = join(import.meta.dirname, '..', '..', 'testdata', 'authz');
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      const testCase = parse(readFileSync(join(dir, file), 'utf8')) as { policies?: unknown };
      if (typeof testCase.policies !== 'string') continue;
      const first = parseAuthorizationPolicies(testCase.policies);
      if (first.issues.length > 0 || first.policies.length === 0) continue;
      const again = parseAuthorizationPolicies(formatAuthorizationPolicies(first.policies));
      assert.deepEqual(again.issues, [], file);
      assert.deepEqual(withoutPositions(again.policies), withoutPositions(first.policies), file);
      checked++;
    }
    assert.ok(checked >= 30, `only ${checked} cases checked`);
  });
});
