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

/** A problem found in a configuration file, with where it is when known. */
export type PositionedIssue = { message: string; path: string; line?: number; column?: number };

/**
 * The message of a rejected configuration file: a title, then one `file:line:col: path: message`
 * line per problem (the first 20; the rest are counted).
 */
export function describeFileIssues(title: string, file: string, issues: readonly PositionedIssue[]): string {
  const shown = issues
    .slice(0, 20)
    .map(
      (i) =>
        `${file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
    );
  const more = issues.length > 20 ? [`... and ${issues.length - 20} more`] : [];
  return [title, ...shown, ...more].join('\n  ');
}
