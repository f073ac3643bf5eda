/**
 * Errors of the topology service. Each has a stable snake_case `code` used in logs, metric labels
 * and error replies; tests check the class, not the message.
 */
export class TopologyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TopologyError';
    this.code = code;
  }
}

export type PositionedIssue = { message: string; path: string; line?: number; column?: number };

/** The static topology file is not valid: every problem with its line and column. */
export class StaticFileError extends TopologyError {
  readonly file: string;
  readonly issues: readonly PositionedIssue[];
  constructor(file: string, issues: readonly PositionedIssue[]) {
    const shown = issues
      .slice(0, 20)
      .map(
        (i) =>
          `${file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
      );
    const more = issues.length > 20 ? [`... and ${issues.length - 20} more`] : [];
    super('invalid_static_file', [`invalid static topology file ${file}:`, ...shown, ...more].join('\n  '));
    this.name = 'StaticFileError';
    this.file = file;
    this.issues = issues;
  }
}

/** A query the service cannot answer as asked (a time range too long, a bad cursor). */
export class InvalidQueryError extends TopologyError {
  constructor(message: string) {
    super('invalid_query', message);
    this.name = 'InvalidQueryError';
  }
}

/** The Kubernetes API could not be reached or configured. */
export class KubernetesError extends TopologyError {
  constructor(message: string, options?: ErrorOptions) {
    super('kubernetes_unavailable', message, options);
    this.name = 'KubernetesError';
  }
}
