/** Just enough DER to build the one extension @peculiar/x509 has no class for (name constraints). */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, content: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([tag]), length(content.length), content]);

/**
 * NameConstraints (RFC 5280 §4.2.1.10) permitting only URIs whose host is exactly one of
 * `hosts`: `SEQUENCE { [0] SEQUENCE OF SEQUENCE { [6] IA5String } }`.
 */
export function permittedUriHosts(hosts: readonly string[]): Buffer {
  const subtrees = hosts.map((host) => tlv(0x30, tlv(0x86, Buffer.from(host, 'ascii'))));
  return tlv(0x30, tlv(0xa0, Buffer.concat(subtrees)));
}
