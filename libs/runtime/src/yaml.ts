import { isNode } from 'yaml';
import type { Document, LineCounter } from 'yaml';

/**
 * Line and column (1-based) of the deepest node on `path` that exists in a parsed YAML document:
 * a missing key points at its parent, so a configuration error always names a place in the file.
 */
export function yamlPosition(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
): { line: number; column: number } | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return undefined;
}
