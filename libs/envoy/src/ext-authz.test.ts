import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { MethodDefinition } from '@grpc/grpc-js';
import type { DecisionResponse } from '@warden/policy-engine';
import type { CheckRequest } from './ext-authz.ts';
import { toAuthzRequest, toCheckResponse } from './ext-authz.ts';
import { loadExtAuthz } from './ext-authz-service.ts';

/**
 * Golden files in `testdata/ext-authz`: `<case>.check.json` (a CheckRequest as Envoy sends it)
 * beside `<case>.authz.json` (what the policy engine is asked), and `<case>.decision.json` beside
 * `<case>.response.json` (the CheckResponse). Each request goes through Envoy's own protos first
 * (encoded, then decoded as the gRPC server decodes it), and each response is encoded with them,
 * so a shape the protos do not accept fails here. `UPDATE_GOLDEN=1` rewrites the expected files.
 */

const dir = join(import.meta.dirname, 'testdata', 'ext-authz');
const update = process.env['UPDATE_GOLDEN'] === '1';
const check = loadExtAuthz().service['Check'] as MethodDefinition<unknown, unknown>;

const asEnvoySends = (json: unknown): CheckRequest =>
  check.requestDeserialize(check.requestSerialize(json)) as CheckRequest;
const asEnvoyReads = (response: unknown): unknown =>
  check.responseDeserialize(check.responseSerialize(response));

function golden(file: string, actual: unknown): void {
  const path = join(dir, file);
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (update) writeFileSync(path, text);
  assert.equal(text, readFileSync(path, 'utf8'), file);
}

const cases = (suffix: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => f.slice(0, -suffix.length))
    .sort();

/** The registry's answer for a destination whose listener carries no labels. */
const labelsFor = (namespace: string): Record<string, string> | undefined =>
  namespace === 'billing' ? { app: 'ledger' } : undefined;

describe('ext_authz CheckRequest → AuthzRequest (golden)', () => {
  for (const name of cases('.check.json')) {
    it(name, () => {
      const json = JSON.parse(readFileSync(join(dir, `${name}.check.json`), 'utf8')) as unknown;
      const translated = toAuthzRequest(asEnvoySends(json), { labelsFor });
      golden(`${name}.authz.json`, JSON.parse(JSON.stringify(translated)));
    });
  }
});

describe('ext_authz decision → CheckResponse (golden)', () => {
  for (const name of cases('.decision.json')) {
    it(name, () => {
      const { decision, object } = JSON.parse(readFileSync(join(dir, `${name}.decision.json`), 'utf8')) as {
        decision: { allowed: boolean; reason: 'allow_matched' };
        object?: DecisionResponse;
      };
      golden(`${name}.response.json`, asEnvoyReads(toCheckResponse(decision, object)));
    });
  }

  it('never names the deciding policy to the caller', () => {
    const response = toCheckResponse({ allowed: false, reason: 'deny_matched' });
    assert.doesNotMatch(JSON.stringify(response), /ns\[|policy\[/);
  });
});
