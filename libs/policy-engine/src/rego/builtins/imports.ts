/**
 * Which host builtins a compiled policy needs, and where the Rego source first calls each.
 *
 * `opa build -t wasm` compiles the builtins it implements natively into the module; the others
 * are called through `opa_builtinN` imports and listed, name → id, in the JSON the module's
 * `builtins` export returns (what opa-wasm reads at load time). Reading it needs an instance,
 * so the module is instantiated with inert imports and only `builtins`/`opa_json_dump` run.
 *
 * Positions come from the Rego text: the first `name(` outside comments and string literals,
 * the name not preceded by an identifier character or a dot. A builtin is only ever reached by
 * calling it by name, so the scan finds every call that opa compiled.
 */
import type { Issue } from '../../errors.ts';
import { messageOf } from '@warden/core';
import { PolicyRejectedError, RegoToolError } from '../../errors.ts';
import { importedMemory } from '../wasm-memory.ts';
import { PROVIDED_BUILTINS } from './index.ts';

/** The part of the WebAssembly JS API used here (this project's TypeScript lib has no DOM types). */
type WasmMemory = { buffer: ArrayBuffer };
type WasmModule = object;
type WasmApi = {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: Record<string, unknown> }>;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: { imports(module: WasmModule): { module: string; name: string; kind: string }[] };
};
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The names of the builtins the module imports from the host. */
export async function importedBuiltins(wasm: Uint8Array): Promise<string[]> {
  const module = await wasmApi.compile(wasm);
  const env: Record<string, unknown> = {};
  let memory: WasmMemory | undefined;
  for (const imp of wasmApi.Module.imports(module)) {
    if (imp.kind === 'memory') {
      memory = new wasmApi.Memory({ initial: Math.max(5, importedMemory(wasm)?.minimum ?? 0) });
      env[imp.name] = memory;
    } else if (imp.kind === 'function') {
      env[imp.name] = () => {
        throw new Error(`unexpected call to ${imp.name} while reading the builtins`);
      };
    }
  }
  const instance = await wasmApi.instantiate(module, { env });
  const exports = instance.exports;
  const builtins = exports.builtins;
  const dump = exports.opa_json_dump;
  const mem = memory ?? (exports.memory as WasmMemory | undefined);
  if (typeof builtins !== 'function' || typeof dump !== 'function' || !mem) return [];
  const addr = (dump as (a: number) => number)((builtins as () => number)());
  const bytes = new Uint8Array(mem.buffer);
  let end = addr;
  while (end < bytes.length && bytes[end] !== 0) end++;
  const json: unknown = JSON.parse(new TextDecoder().decode(bytes.subarray(addr, end)));
  return typeof json === 'object' && json !== null ? Object.keys(json).sort() : [];
}

/** The Rego text with comments and string literals blanked (same length, same line breaks). */
export function blankLiterals(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i] ?? '';
    if (c === '#') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) {
        if (c === '"' && source[j] === '\\') j++;
        else if (c === '"' && source[j] === '\n') break;
        j++;
      }
      const stop = Math.min(j + 1, source.length);
      out += source.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** 1-based line and column of the first call of `name` in `source`, if any. */
export function findCall(source: string, name: string): { line: number; column: number } | undefined {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(?<![\\w.])${escaped}\\s*\\(`, 'g');
  const lines = blankLiterals(source).split('\n');
  for (let n = 0; n < lines.length; n++) {
    pattern.lastIndex = 0;
    const m = pattern.exec(lines[n] ?? '');
    if (m) return { line: n + 1, column: m.index + 1 };
  }
  return undefined;
}

/** A Rego policy calls a builtin that Warden does not provide to WebAssembly policies. */
export class UnsupportedBuiltinError extends PolicyRejectedError {
  readonly builtins: readonly string[];
  constructor(issues: readonly Issue[], builtins: readonly string[]) {
    super(issues);
    this.builtins = builtins;
  }
}

/** Throws `UnsupportedBuiltinError` when the module needs a builtin Warden does not provide. */
export async function checkBuiltins(
  wasm: Uint8Array,
  source: string,
  file: string,
  provided: ReadonlySet<string> = PROVIDED_BUILTINS,
): Promise<void> {
  let imported: string[];
  try {
    imported = await importedBuiltins(wasm);
  } catch (err) {
    throw new RegoToolError(`cannot read the builtins policy.wasm imports: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const missing = imported.filter((name) => !provided.has(name));
  if (missing.length === 0) return;
  const issues = missing.map((name): Issue => {
    const at = findCall(source, name) ?? { line: 1, column: 1 };
    return {
      code: 'rego_unsupported_builtin',
      message: `builtin ${name} is not provided by Warden's WebAssembly evaluator`,
      line: at.line,
      column: at.column,
      path: '',
      file,
    };
  });
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new UnsupportedBuiltinError(issues, missing);
}
