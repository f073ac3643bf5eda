/**
 * Rego → WebAssembly with the real `opa build -t wasm -e <entrypoint>`, in a private temp dir,
 * with limits on the module, the tool's run time and output, and the bundle.
 *
 * Rego v1 is the default; a module that fails to parse as v1 and does not opt into v1
 * (`import rego.v1`) is retried with `--v0-compatible`, so existing v0 policies (OPA-Envoy's
 * examples are mostly v0) compile unchanged. Errors come back as `Issue`s with file, line, column
 * and opa's own code (`rego_unsafe_var_error`, ...), taken from `opa check --format json` because
 * `opa build`'s text output has no column. A module that needs a host builtin Warden does not
 * provide is rejected here (`UnsupportedBuiltinError`, with the builtin's name and the line and
 * column of its first call), not denied at evaluation.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeOf } from '@warden/core';
import type { Issue } from '../errors.ts';
import { PolicyRejectedError, RegoToolError } from '../errors.ts';
import { checkBuiltins } from './builtins/imports.ts';
import { readTarGzEntry } from './tar.ts';

export type RegoSource = {
  /** The module text. */
  module: string;
  /** Slash-separated rule path, e.g. `envoy/authz/allow` (OPA-Envoy's default decision). */
  entrypoint: string;
  /** File name used in error positions; default `policy.rego`. */
  fileName?: string;
};

export type RegoCompileOptions = {
  /** Path of the opa binary; default `opa` from PATH. */
  opa?: string;
  maxModuleBytes?: number;
  maxWasmBytes?: number;
  timeoutMs?: number;
};

export type CompiledRego = {
  wasm: Buffer;
  entrypoint: string;
  regoVersion: 'v1' | 'v0';
};

/** `output` is stdout and stderr together: opa writes its errors to either, depending on the command. */
type Run = { ok: boolean; output: string };

function run(opa: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      opa,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        // ENOENT, EACCES: the tool itself is missing, not a policy mistake (an exit status is a number).
        const spawnFailure = err ? codeOf(err, '') : '';
        if (spawnFailure) {
          reject(new RegoToolError(`cannot run ${opa}: ${spawnFailure}`, { cause: err }));
          return;
        }
        if (err && err.killed) {
          reject(new RegoToolError(`${opa} ${args[0]} timed out after ${timeoutMs} ms`, { cause: err }));
          return;
        }
        resolve({ ok: !err, output: `${stderr}${stdout}` });
      },
    );
  });
}

const textError = /^(?:.*?: )?([^\s:]+\.rego):(\d+)(?::(\d+))?: (rego_[a-z_]+): (.*)$/;

/** Parses opa's text errors (`file.rego:7: rego_unsafe_var_error: var x is unsafe`). */
export function parseOpaText(output: string): Issue[] {
  const issues: Issue[] = [];
  for (const line of output.split('\n')) {
    const m = textError.exec(line.trim());
    if (!m) continue;
    issues.push({
      file: m[1] ?? '',
      line: Number(m[2]),
      column: m[3] ? Number(m[3]) : 1,
      code: m[4] ?? 'rego_error',
      message: m[5] ?? '',
      path: '',
    });
  }
  return issues;
}

type JsonError = {
  message?: string;
  code?: string;
  location?: { file?: string; row?: number; col?: number };
  details?: { idx?: number };
};

/** Parses `opa check --format json` output (`{"errors":[{message, code, location:{file,row,col}}]}`). */
export function parseOpaJson(output: string): Issue[] {
  const start = output.indexOf('{');
  if (start === -1) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(output.slice(start));
  } catch {
    return [];
  }
  const errors = (parsed as { errors?: JsonError[] }).errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => ({
    file: e.location?.file ?? '',
    line: e.location?.row ?? 1,
    // opa reports column 0 at end of input; its `details.idx` is the 0-based offset in the line.
    column: e.location?.col || (e.details?.idx ?? 0) + 1,
    code: e.code ?? 'rego_error',
    message: e.message ?? 'error',
    path: '',
  }));
}

const entrypointPattern = /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/;

function reject(code: string, message: string, file: string): never {
  throw new PolicyRejectedError([{ code, message, line: 1, column: 1, path: '', file }]);
}

export async function compileRego(
  source: RegoSource,
  options: RegoCompileOptions = {},
): Promise<CompiledRego> {
  const opa = options.opa ?? 'opa';
  const maxModuleBytes = options.maxModuleBytes ?? 1024 * 1024;
  const maxWasmBytes = options.maxWasmBytes ?? 32 * 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const file = source.fileName ?? 'policy.rego';
  if (!/^[\w.-]+\.rego$/.test(file))
    reject('invalid_file_name', `file name ${JSON.stringify(file)} must be like name.rego`, file);
  const size = Buffer.byteLength(source.module, 'utf8');
  if (size > maxModuleBytes)
    reject('too_large', `module is ${size} bytes, the limit is ${maxModuleBytes}`, file);
  if (!entrypointPattern.test(source.entrypoint))
    reject(
      'invalid_entrypoint',
      `entrypoint ${JSON.stringify(source.entrypoint)} must be a slash-separated rule path`,
      file,
    );

  const dir = await mkdtemp(join(tmpdir(), 'warden-rego-'));
  try {
    await writeFile(join(dir, file), source.module);
    const build = (v0: boolean) =>
      run(
        opa,
        [
          'build',
          '-t',
          'wasm',
          '-e',
          source.entrypoint,
          ...(v0 ? ['--v0-compatible'] : []),
          '-o',
          'bundle.tar.gz',
          file,
        ],
        dir,
        timeoutMs,
      );

    let regoVersion: 'v1' | 'v0' = 'v1';
    let result = await build(false);
    const declaresV1 = /^\s*import\s+rego\.v1\b/m.test(source.module);
    if (!result.ok && !declaresV1 && /rego_parse_error/.test(result.output)) {
      const v0 = await build(true);
      // Keep the v0 attempt if it compiled, or if it got past parsing: its errors are then the
      // real ones (an unsafe variable in a v0 module would otherwise hide behind "`if` required").
      if (v0.ok || !/rego_parse_error/.test(v0.output)) {
        result = v0;
        regoVersion = 'v0';
      }
    }
    if (!result.ok) {
      const check = await run(
        opa,
        ['check', '--format', 'json', ...(regoVersion === 'v0' ? ['--v0-compatible'] : []), file],
        dir,
        timeoutMs,
      );
      let issues = parseOpaJson(check.output);
      if (issues.length === 0) issues = parseOpaText(result.output);
      if (issues.length === 0) {
        // Not a module error (e.g. the entrypoint names no rule): report opa's own words.
        const message = result.output.replace(/^error:\s*/, '').trim() || 'opa build failed';
        issues = [{ code: 'rego_build_error', message, line: 1, column: 1, path: '', file }];
      }
      throw new PolicyRejectedError(issues);
    }
    const bundle = await readFile(join(dir, 'bundle.tar.gz'));
    const wasm = readTarGzEntry(bundle, 'policy.wasm', maxWasmBytes + 1024 * 1024);
    if (wasm.length > maxWasmBytes)
      throw new RegoToolError(`policy.wasm is ${wasm.length} bytes, the limit is ${maxWasmBytes}`);
    // A builtin neither the module nor the host implements would only fail at evaluation.
    await checkBuiltins(wasm, source.module, file);
    return { wasm, entrypoint: source.entrypoint, regoVersion };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
