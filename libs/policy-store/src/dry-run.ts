import type { Bus } from '@warden/events';
import type { AuthzRequest, Decision, Engine } from '@warden/policy-engine';

/**
 * Evaluates each request against the active revision (the answer) and the dry-run revision
 * beside it; when they disagree, reports the difference as an audit event
 * (kind `policy-dry-run` in the decision point's audit chain). The dry run is never enforced.
 */
export class DryRunDecider {
  private readonly active: Engine;
  private readonly dryRun: Engine;
  private readonly bus: Bus;
  private readonly decisionPoint: string;
  private readonly maxReportsPerSecond: number;
  private windowStart = 0;
  private reportsInWindow = 0;
  /** Differences seen but not reported because of the rate limit. */
  suppressed = 0;

  constructor(options: {
    active: Engine;
    dryRun: Engine;
    bus: Bus;
    decisionPoint: string;
    maxReportsPerSecond?: number;
  }) {
    this.active = options.active;
    this.dryRun = options.dryRun;
    this.bus = options.bus;
    this.decisionPoint = options.decisionPoint;
    this.maxReportsPerSecond = options.maxReportsPerSecond ?? 100;
  }

  decide(request: AuthzRequest): Decision {
    const decision = this.active.decide(request);
    if (this.dryRun.current.revision === 0) return decision;
    const trial = this.dryRun.decide(request);
    if (trial.allowed !== decision.allowed) this.report(request, decision, trial);
    return decision;
  }

  private report(request: AuthzRequest, decision: Decision, trial: Decision): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.reportsInWindow = 0;
    }
    // A dry run that disagrees on every request must not flood the audit log.
    if (++this.reportsInWindow > this.maxReportsPerSecond) {
      this.suppressed++;
      return;
    }
    const verdict = (d: Decision): Record<string, unknown> => ({
      allowed: d.allowed,
      policy: d.policy,
      revision: d.revision,
    });
    void this.bus
      .audit({
        kind: 'policy-dry-run',
        actor: this.decisionPoint,
        action: 'policy.dry-run.difference',
        target: `${request.destination.namespace}/${Object.entries(request.destination.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
        outcome: 'success',
        details: {
          active: verdict(decision),
          dryRun: verdict(trial),
          request: {
            source: request.source ?? null,
            method: request.http?.method ?? null,
            path: request.http?.path ?? null,
          },
        },
      })
      .catch(() => {
        this.suppressed++;
      });
  }
}
