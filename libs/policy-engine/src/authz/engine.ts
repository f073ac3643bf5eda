/**
 * The decision point's handle on the current policy revision. A swap replaces one reference;
 * `decide` reads that reference once and evaluates entirely against the revision it read, so a
 * decision sees the old set or the new one, never a mix, even if a swap happens meanwhile (for
 * instance from a provider callback).
 */
import { PolicyRejectedError } from '../errors.ts';
import type { AuthzRequest, Decision } from './model.ts';
import { parseAuthorizationPolicies } from './parse.ts';
import type { ParseOptions } from './parse.ts';
import { PolicyRevision } from './revision.ts';
import type { RevisionOptions } from './revision.ts';

export class Engine {
  #current: PolicyRevision;

  constructor(initial: PolicyRevision = new PolicyRevision([])) {
    this.#current = initial;
  }

  get current(): PolicyRevision {
    return this.#current;
  }

  /** Installs `next` atomically. A revision number must increase: a stale revision is ignored. */
  swap(next: PolicyRevision): boolean {
    if (next.revision < this.#current.revision) return false;
    this.#current = next;
    return true;
  }

  decide(request: AuthzRequest): Decision {
    const revision = this.#current;
    return revision.decide(request);
  }
}

/**
 * Parses and compiles a policy text all-or-nothing: any issue rejects the whole text with every
 * issue listed (ARCHITECTURE §7: a rejected policy never replaces a good one).
 */
export function compileAuthorizationPolicies(
  text: string,
  options: RevisionOptions & ParseOptions = {},
): PolicyRevision {
  const { policies, issues } = parseAuthorizationPolicies(text, options);
  if (issues.length > 0) throw new PolicyRejectedError(issues);
  return new PolicyRevision(policies, options);
}
