/**
 * The differential test of Warden's Rego path against the real OPA: thousands of generated
 * OPA-Envoy requests, each turned into the input document by Warden (`buildEnvoyInput`) and
 * decided by Warden's WebAssembly evaluator (`RegoPolicy.check`, host builtins included) and by
 * `opa eval` with the pinned binary, on OPA's Envoy tutorial policy and on policies that between
 * them call every builtin Warden provides. The decision objects must be identical; a difference
 * fails the test naming the policy and the request.
 *
 * WARDEN_DIFF_INPUTS (default 5000) and WARDEN_DIFF_SEED set the size and the seed
 * (`make test-differential` runs a larger set).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { binary } from '@warden/infra';
import {
  buildEnvoyInput,
  compileRego,
  InvalidRequestError,
  RegoPolicy,
  validateDecision,
  WARDEN_BUILTINS,
  importedBuiltins,
} from '@warden/policy-engine';
import type { AuthzRequest, EnvoyInput, RegoOutcome } from '@warden/policy-engine';
import { generateRequests, makeKeys } from './generate.ts';
import type { Keys } from './generate.ts';
import { evalWithOpa } from './opa-batch.ts';

const COUNT = Number(process.env['WARDEN_DIFF_INPUTS'] ?? 5000);
const SEED = Number(process.env['WARDEN_DIFF_SEED'] ?? 20261203);

const policies = [
  {
    name: "OPA's Envoy tutorial (JWT roles)",
    file: new URL('../../../libs/policy-engine/testdata/builtins/envoy-jwt.rego', import.meta.url),
    entrypoint: 'envoy/authz/allow',
  },
  ...['paths', 'network', 'time', 'encoding', 'jwt'].map((name) => ({
    name,
    file: new URL(`policies/${name}.rego`, import.meta.url),
    entrypoint: `differential/${name}/decision`,
  })),
];

type Loaded = {
  name: string;
  module: string;
  entrypoint: string;
  v0: boolean;
  policy: RegoPolicy;
  imports: string[];
};

/** A decision compared field by field; header lists in a stable order (Envoy's is a map). */
function comparable(outcome: RegoOutcome) {
  const sorted = (list: [string, string][]) =>
    [...list].sort((a, b) => (a.join('\0') < b.join('\0') ? -1 : 1));
  return {
    ...outcome,
    headers: sorted(outcome.headers),
    responseHeadersToAdd: sorted(outcome.responseHeadersToAdd),
  };
}

/** What Warden's decision point makes of OPA's answer: the same validation, the same denial. */
function fromOpa(value: unknown): RegoOutcome {
  try {
    return validateDecision(value);
  } catch (err) {
    return { ...validateDecision(false), error: RegoPolicy.describeError(err) };
  }
}

const nowNs = (input: EnvoyInput): bigint => {
  const time = input.attributes.request.time ?? {};
  return BigInt(time.seconds ?? 0) * 1_000_000_000n + BigInt(time.nanos ?? 0);
};

let keys: Keys;
let loaded: Loaded[];
const valid: { request: AuthzRequest; input: EnvoyInput }[] = [];
const invalid: AuthzRequest[] = [];

before(async () => {
  keys = makeKeys();
  const opa = binary('opa');
  loaded = await Promise.all(
    policies.map(async (p) => {
      const module = await readFile(p.file, 'utf8');
      const compiled = await compileRego({ module, entrypoint: p.entrypoint }, { opa });
      const policy = await RegoPolicy.load(compiled, { data: keys.data });
      const imports = await importedBuiltins(compiled.wasm);
      return {
        name: p.name,
        module,
        entrypoint: p.entrypoint,
        v0: compiled.regoVersion === 'v0',
        policy,
        imports,
      };
    }),
  );
  // Requests the plugin would refuse (an unparsable path, query or body) never reach a policy:
  // they are kept aside to check that Warden denies them, and more are generated in their place.
  for (let batch = 0; valid.length < COUNT; batch++) {
    for (const request of generateRequests(COUNT, SEED + batch, keys, Date.now())) {
      if (valid.length >= COUNT) break;
      try {
        valid.push({ request, input: buildEnvoyInput(request) });
      } catch (err) {
        if (!(err instanceof InvalidRequestError)) throw err;
        invalid.push(request);
      }
    }
  }
});

test('the policies call every builtin Warden provides', () => {
  const used = new Set(loaded.flatMap((p) => p.imports));
  assert.deepEqual(
    WARDEN_BUILTINS.filter((b) => !used.has(b)),
    [],
  );
});

describe(`Warden's Wasm decisions equal opa eval's on ${COUNT} requests`, () => {
  for (const p of policies) {
    test(p.name, async () => {
      const { module, entrypoint, v0, policy } = loaded.find((l) => l.name === p.name) ?? assert.fail();
      const fromOpaEval = await evalWithOpa({
        opa: binary('opa'),
        module,
        entrypoint,
        v0,
        data: keys.data,
        cases: valid.map((v) => ({ input: v.input, nowNs: nowNs(v.input) })),
      });
      const differences: object[] = [];
      let allowed = 0;
      for (const [i, { request, input }] of valid.entries()) {
        const warden = comparable(policy.check(request));
        const opa = comparable(fromOpa(fromOpaEval[i]));
        if (warden.allowed) allowed++;
        if (!isDeepStrictEqual(warden, opa)) differences.push({ i, request, input, warden, opa });
      }
      if (differences.length > 0) {
        // The assertion message truncates long values: every difference goes to a file in full.
        const dir = join(tmpdir(), 'warden-differential');
        await mkdir(dir, { recursive: true });
        const report = join(dir, `${p.entrypoint.replaceAll('/', '.')}.json`);
        await writeFile(report, JSON.stringify(differences, null, 2));
        assert.fail(
          `${p.name}: ${differences.length} of ${valid.length} decisions differ (seed ${SEED}); ` +
            `all of them in ${report}, the first: ${JSON.stringify(differences[0])}`,
        );
      }
      // A policy that allows everything or nothing would agree trivially: each must do both.
      assert.ok(allowed >= valid.length / 500, `${p.name} allowed only ${allowed} of ${valid.length}`);
      assert.ok(
        allowed <= valid.length * 0.998,
        `${p.name} denied only ${valid.length - allowed} of ${valid.length}`,
      );
    });
  }
});

test('requests the input builder refuses are denied with invalid_request, by every policy', () => {
  assert.ok(invalid.length > 0, 'the generator produced no unparsable request');
  for (const request of invalid)
    for (const { name, policy } of loaded) {
      const outcome = policy.check(request);
      assert.equal(outcome.allowed, false, `${name}: ${JSON.stringify(request)}`);
      assert.equal(outcome.error?.code, 'invalid_request', `${name}: ${JSON.stringify(request)}`);
    }
});
