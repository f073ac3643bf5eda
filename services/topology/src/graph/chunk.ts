/**
 * Splits items into consecutive groups, in order, so that each group encoded as a JSON array
 * takes at most `maxBytes` bytes (UTF-8) and holds at most `maxItems` items. Counting bytes, not
 * items, is what keeps a message under nats-server's max_payload: edges differ tenfold in size
 * (an address against a 253-character workload name, a 256-character path prefix). An item
 * larger than `maxBytes` on its own goes alone, for the publisher to refuse.
 */
export function chunkByBytes<T>(items: readonly T[], maxBytes: number, maxItems: number): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 2; // "[" and "]"
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item));
    if (chunk.length > 0 && (bytes + 1 + size > maxBytes || chunk.length >= maxItems)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 2;
    }
    bytes += size + (chunk.length > 0 ? 1 : 0); // a comma before every item but the first
    chunk.push(item);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
