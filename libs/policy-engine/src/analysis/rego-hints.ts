/**
 * Hints on `opa build`'s unsafe-variable errors (`var path is unsafe`). opa puts them at the start
 * of the expression; the hint moves the issue to the variable's own column and, since most such
 * variables in an OPA-Envoy policy are request fields written without their path, says where
 * OPA-Envoy's input document has that field (`input.attributes.request.http.path`).
 */
import type { Issue } from '../errors.ts';

const http = 'input.attributes.request.http';

/** Names an OPA-Envoy policy commonly means, and where the input document has them. */
const inputPaths: ReadonlyMap<string, string> = new Map([
  ['attributes', 'input.attributes'],
  ['request', 'input.attributes.request'],
  ['http', http],
  ['http_request', http],
  ['method', `${http}.method`],
  ['path', `${http}.path`],
  ['host', `${http}.host`],
  ['headers', `${http}.headers`],
  ['body', `${http}.body`],
  ['raw_body', `${http}.raw_body`],
  ['scheme', `${http}.scheme`],
  ['protocol', `${http}.protocol`],
  ['query', `${http}.query`],
  ['size', `${http}.size`],
  ['source', 'input.attributes.source'],
  ['destination', 'input.attributes.destination'],
  ['principal', 'input.attributes.source.principal'],
  ['metadata_context', 'input.attributes.metadata_context'],
  ['context_extensions', 'input.attributes.context_extensions'],
  ['parsed_path', 'input.parsed_path'],
  ['parsed_query', 'input.parsed_query'],
  ['parsed_body', 'input.parsed_body'],
  ['truncated_body', 'input.truncated_body'],
]);

const unsafe = /^var (\S+) is unsafe$/;

/** The 1-based column of variable `name` on `line` at or after `from`, outside strings and not a field. */
export function variableColumn(line: string, name: string, from: number): number | undefined {
  const word = /[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"|`[^`]*`|#.*/g;
  word.lastIndex = Math.max(0, from - 1);
  for (let m = word.exec(line); m; m = word.exec(line)) {
    if (m[0] !== name) continue;
    if (line[m.index - 1] === '.') continue; // `input.path`: a field, not the variable
    return m.index + 1;
  }
  return undefined;
}

/** `issues` with each unsafe-variable error at its variable's column and with a hint. */
export function hintUnsafeVariables(module: string, issues: readonly Issue[]): Issue[] {
  const lines = module.split('\n');
  return issues.map((issue) => {
    const name = issue.code === 'rego_unsafe_var_error' ? unsafe.exec(issue.message)?.[1] : undefined;
    if (!name) return issue;
    const line = lines[issue.line - 1] ?? '';
    const column = variableColumn(line, name, issue.column) ?? issue.column;
    const path = inputPaths.get(name);
    const hint = path
      ? `; OPA-Envoy's input has it at ${path} (or import it: import ${path} as ${name})`
      : `; an OPA-Envoy policy reads the request from input.attributes.* (e.g. ${http}.headers), or declare it with some ${name} / ${name} := ...`;
    return { ...issue, column, message: `${issue.message}${hint}` };
  });
}
