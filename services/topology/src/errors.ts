import { describeFileIssues } from '@warden/runtime';
import type { PositionedIssue } from '@warden/runtime';

export type { PositionedIssue };

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

/** The static topology file is not valid: every problem with its line and column. */
export class StaticFileError extends TopologyError {
  readonly file: string;
  readonly issues: readonly PositionedIssue[];
  constructor(file: string, issues: readonly PositionedIssue[]) {
    super('invalid_static_file', describeFileIssues(`invalid static topology file ${file}:`, file, issues));
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
