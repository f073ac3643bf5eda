/**
 * The memory a compiled policy declares: `opa build -t wasm` imports `env.memory` with a minimum
 * that grows with the policy's data segments (a large literal set needs more than the few pages
 * a small policy does). Read from the module's import section, so a loader can give the module
 * what it declares, or refuse it with the reason, instead of failing to link.
 */

/** Thrown when the bytes are not a WebAssembly module this reader understands. */
export class WasmFormatError extends Error {}

/** 64 KiB pages. */
export type MemoryLimits = { minimum: number; maximum?: number };

class Reader {
  pos = 0;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  byte(): number {
    const b = this.bytes[this.pos++];
    if (b === undefined) throw new WasmFormatError('truncated WebAssembly module');
    return b;
  }
  /** Unsigned LEB128, at most 32 bits. */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new WasmFormatError('malformed LEB128 integer');
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.bytes.length) throw new WasmFormatError('truncated WebAssembly module');
  }
  limits(): MemoryLimits {
    const flags = this.byte();
    const minimum = this.u32();
    return flags & 1 ? { minimum, maximum: this.u32() } : { minimum };
  }
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
}

const IMPORT_SECTION = 2;
const KIND = { function: 0, table: 1, memory: 2, global: 3 } as const;

/** The limits of the memory the module imports, or undefined when it imports none. */
export function importedMemory(wasm: Uint8Array): MemoryLimits | undefined {
  const r = new Reader(wasm);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (magic.some((b) => r.byte() !== b)) throw new WasmFormatError('not a WebAssembly module');
  r.skip(4);
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    if (id !== IMPORT_SECTION) {
      r.skip(size);
      continue;
    }
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      r.skip(r.u32());
      r.skip(r.u32());
      const kind = r.byte();
      if (kind === KIND.function) r.u32();
      else if (kind === KIND.table) {
        r.byte();
        r.limits();
      } else if (kind === KIND.memory) return r.limits();
      else if (kind === KIND.global) r.skip(2);
      else throw new WasmFormatError(`unknown import kind ${kind}`);
    }
    return undefined;
  }
  return undefined;
}
