/**
 * Evaluates one policy over many input documents with the real `opa eval`, in one process: the
 * inputs go in as one document and a comprehension evaluates the decision `with input as` each,
 * and `with time.now_ns as` the request's own time, which is what Warden's Wasm path uses for
 * "now" (so time-dependent builtins agree without touching the wall clock).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EnvoyInput } from '@warden/policy-engine';

const run = promisify(execFile);

export type OpaCase = { input: EnvoyInput; nowNs: bigint };

export type OpaBatch = {
  opa: string;
  module: string;
  /** The decision's rule path, as the Wasm entrypoint: `envoy/authz/allow`. */
  entrypoint: string;
  /** Rego v0 syntax (OPA's Envoy examples), which `opa eval` needs told. */
  v0: boolean;
  data: Record<string, unknown>;
  cases: readonly OpaCase[];
};

/** The decision for each case, `undefined` where the policy produced none. */
export async function evalWithOpa(batch: OpaBatch): Promise<unknown[]> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-differential-'));
  try {
    await writeFile(join(dir, 'policy.rego'), batch.module);
    await writeFile(join(dir, 'data.json'), JSON.stringify(batch.data));
    // Nanosecond times exceed 2^53: written as exact JSON integers, which OPA keeps exact.
    const cases = batch.cases.map((c) => `{"now":${c.nowNs},"input":${JSON.stringify(c.input)}}`);
    await writeFile(join(dir, 'input.json'), `{"cases":[${cases.join(',')}]}`);
    const rule = `data.${batch.entrypoint.split('/').join('.')}`;
    // Bind the case's fields to variables first: opa 1.22 evaluates `with input as c.input` (a
    // field of a variable bound in the comprehension) as the outer input, silently.
    const query = `{i: d | some i; x := input.cases[i].input; n := input.cases[i].now; d := ${rule} with input as x with time.now_ns as n}`;
    const args = ['eval', '--format', 'json', '-d', join(dir, 'policy.rego'), '-d', join(dir, 'data.json')];
    if (batch.v0) args.push('--v0-compatible');
    args.push('-i', join(dir, 'input.json'), query);
    const { stdout } = await run(batch.opa, args, { maxBuffer: 1024 * 1024 * 1024 });
    const parsed = JSON.parse(stdout) as { result?: { expressions: { value: Record<string, unknown> }[] }[] };
    const byIndex = parsed.result?.[0]?.expressions[0]?.value;
    if (byIndex === undefined) throw new Error(`opa eval gave no result: ${stdout.slice(0, 500)}`);
    return batch.cases.map((_c, i) => byIndex[String(i)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
