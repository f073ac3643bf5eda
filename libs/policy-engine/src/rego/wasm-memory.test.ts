import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRego } from './compile.ts';
import { importedMemory, WasmFormatError } from './wasm-memory.ts';

test('reads the memory an opa-built module imports', async () => {
  const compiled = await compileRego(
    { module: 'package p\nimport rego.v1\nallow if input.x == 1\n', entrypoint: 'p/allow' },
    { opa: 'opa' },
  );
  const limits = importedMemory(compiled.wasm);
  assert.ok(limits && limits.minimum >= 1, JSON.stringify(limits));
});

test('a module without imports declares none; bytes that are not a module are refused', () => {
  const empty = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  assert.equal(importedMemory(empty), undefined);
  assert.throws(() => importedMemory(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), WasmFormatError);
  // An import section cut short.
  assert.throws(() => importedMemory(Uint8Array.from([...empty, 0x02, 0x05, 0x01, 0x03])), WasmFormatError);
});
