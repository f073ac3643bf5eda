import { describeFileIssues } from '@warden/runtime';
import type { PositionedIssue } from '@warden/runtime';
import { WardenError } from '@warden/core';

export type { PositionedIssue };

/** Errors of the topology service; an error reply carries their code. */
export class TopologyError extends WardenError {}

/** The static topology file is not valid: every problem with its line and column. */
export class StaticFileError extends TopologyError {
  readonly file: string;
  readonly issues: readonly PositionedIssue[];
  constructor(file: string, issues: readonly PositionedIssue[]) {
    super('invalid_static_file', describeFileIssues(`invalid static topology file ${file}:`, file, issues));
    this.file = file;
    this.issues = issues;
  }
}

/** A query the service cannot answer as asked (a time range too long, a bad cursor). */
export class InvalidQueryError extends TopologyError {
  constructor(message: string) {
    super('invalid_query', message);
  }
}

/** The Kubernetes API could not be reached or configured. */
export class KubernetesError extends TopologyError {
  constructor(message: string, options?: ErrorOptions) {
    super('kubernetes_unavailable', message, options);
  }
}

/**
 * The call graph in Redis lacks its completeness marker: Redis lost it (a first start, a flush, a
 * new server) and it is being rebuilt from its snapshots on the bus. Queries are refused rather
 * than answered from a partial graph, which would, for instance, suggest a policy too strict.
 */
export class GraphIncompleteError extends TopologyError {
  constructor() {
    super('graph_rebuilding', 'the call graph is being rebuilt from its snapshots; retry shortly');
  }
}
