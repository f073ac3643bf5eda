/**
 * Quoted-printable decoding as Go's `mime/quotedprintable.Reader` does it, which `mime/multipart`
 * applies to a part sent with `Content-Transfer-Encoding: quoted-printable` (opa-envoy-plugin
 * reads form parts through it). Go's leniencies are kept: `=\n` is a soft break as well as
 * `=\r\n`, bare CR and LF pass through, a final `=` is ignored, `=` not followed by two hex
 * digits is a literal `=`, lowercase hex and bytes >= 0x80 are accepted.
 */

const isDiscardable = (b: number) => b === 0x0a || b === 0x0d || b === 0x20 || b === 0x09;

function fromHex(b: number | undefined): number | undefined {
  if (b === undefined) return undefined;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return undefined;
}

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/** The decoded bytes; throws with Go's message where Go's reader fails. */
export function decodeQuotedPrintable(input: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = 0;
  while (start < input.length) {
    const lf = input.indexOf(0x0a, start);
    const atEof = lf === -1;
    const whole = input.subarray(start, atEof ? input.length : lf + 1);
    start += whole.length;
    let end = whole.length;
    while (end > 0 && isDiscardable(whole[end - 1] ?? 0)) end--;
    let line: number[] = [...whole.subarray(0, end)];
    if (line[line.length - 1] === 0x3d) {
      let rest = end;
      while (rest < whole.length && (whole[rest] === 0x20 || whole[rest] === 0x09)) rest++;
      const after = whole.subarray(rest);
      line = line.slice(0, -1);
      const softBreak =
        after[0] === 0x0a ||
        (after[0] === 0x0d && after[1] === 0x0a) ||
        (after.length === 0 && line.length > 0 && atEof);
      if (!softBreak)
        throw new Error(
          `quotedprintable: invalid bytes after =: ${JSON.stringify(Buffer.from(after).toString('latin1'))}`,
        );
    } else if (whole[whole.length - 1] === 0x0a) {
      line.push(...(whole[whole.length - 2] === 0x0d ? [0x0d, 0x0a] : [0x0a]));
    }
    decodeLine(line, out);
  }
  return Uint8Array.from(out);
}

function decodeLine(line: number[], out: number[]): void {
  for (let i = 0; i < line.length; i++) {
    const b = line[i] ?? 0;
    if (b === 0x3d) {
      const hi = fromHex(line[i + 1]);
      const lo = fromHex(line[i + 2]);
      if (hi !== undefined && lo !== undefined) {
        out.push((hi << 4) | lo);
        i += 2;
        continue;
      }
      const next = line[i + 1];
      if (next === undefined || next === 0x0d || next === 0x0a)
        throw new Error('quotedprintable: "=" followed by a line break inside a line');
      out.push(b);
      continue;
    }
    if (b === 0x09 || b === 0x0d || b === 0x0a || b >= 0x80) out.push(b);
    else if (b < 0x20 || b > 0x7e)
      throw new Error(`quotedprintable: invalid unescaped byte ${hex(b)} in body`);
    else out.push(b);
  }
}
