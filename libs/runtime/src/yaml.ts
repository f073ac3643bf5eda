import { messageOf } from '@warden/core';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';

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

/** Where a path of a parsed file is, for issues found after the schema passed. */
export type PositionOf = (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;

/** At most this many issues are reported for one file; the rest would only bury the first. */
export const MAX_REPORTED_ISSUES = 100;

/**
 * Parses a YAML configuration file and validates it against its zod schema. Every problem of the
 * first failing stage (syntax, then schema) is returned with its line and column; the caller
 * wraps them in its own error. Duplicate keys are syntax errors, and alias expansion is bounded
 * ("billion laughs").
 */
export function parseYamlFile<S extends z.ZodType>(
  text: string,
  schema: S,
): { ok: true; data: z.infer<S>; positionOf: PositionOf } | { ok: false; issues: PositionedIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax: PositionedIssue[] = [...doc.errors].map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return { path: '', message: e.message.split('\n')[0] ?? e.message, line: pos.line, column: pos.col };
  });
  if (syntax.length > 0) return { ok: false, issues: syntax };
  const positionOf: PositionOf = (path) => yamlPosition(doc, lineCounter, path);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (cause) {
    return { ok: false, issues: [{ path: '', message: messageOf(cause) }] };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      issues: parsed.error.issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
        ...positionOf(issue.path),
      })),
    };
  return { ok: true, data: parsed.data, positionOf };
}
