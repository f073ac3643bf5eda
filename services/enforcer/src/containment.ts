import { createHash } from 'node:crypto';
import type { DataOf, enforceDeny, enforceQuarantine, Envelope } from '@warden/events';
import type { AuthzRequest } from '@warden/policy-engine';

/** Who a containment rule is about: a workload, an identity, or an address. */
export type Target =
  { workload: { namespace: string; workload: string } } | { principal: string } | { address: string };

/**
 * A time-bounded emergency rule (ARCHITECTURE §4 step 2), as stored in the `warden-containment`
 * bucket: a deny of source → destination, or a quarantine of everything to and from a target.
 * It lifts itself at `expiresAt`: the decision point ignores it from then on, nobody acting.
 */
export type ContainmentRule = {
  id: string;
  kind: 'deny' | 'quarantine';
  source?: Target;
  destination?: Target;
  target?: Target;
  expiresAt: string;
  reason: string;
  /** What put it there: the event, who published it, and the alert when one did. */
  cause: { eventId: string; actor: string; alertId?: string };
};

/** The bucket key of a rule: KV keys take only a few characters, rule ids any. */
export const ruleKey = (id: string): string =>
  `rule.${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;

/** A quarantine's id is its target, so a second one for the same target replaces the first. */
export const quarantineId = (target: Target): string => `quarantine:${JSON.stringify(target)}`;

export class ContainmentError extends Error {}

const expiry = (event: Envelope<{ ttlSeconds: number }>): string =>
  new Date(Date.parse(event.time) + event.data.ttlSeconds * 1000).toISOString();

const causeOf = (event: Envelope<{ alertId?: string | undefined }>): ContainmentRule['cause'] => ({
  eventId: event.id,
  actor: event.source,
  ...(event.data.alertId ? { alertId: event.data.alertId } : {}),
});

export function ruleFromDeny(event: Envelope<DataOf<typeof enforceDeny>>): ContainmentRule {
  const { source, destination } = event.data;
  // A deny naming neither side would stop every call in the mesh.
  if (!source && !destination) throw new ContainmentError('a deny rule needs a source or a destination');
  return {
    id: event.data.ruleId,
    kind: 'deny',
    ...(source ? { source } : {}),
    ...(destination ? { destination } : {}),
    expiresAt: expiry(event),
    reason: event.data.reason,
    cause: causeOf(event),
  };
}

export function ruleFromQuarantine(event: Envelope<DataOf<typeof enforceQuarantine>>): ContainmentRule {
  return {
    id: quarantineId(event.data.target),
    kind: 'quarantine',
    target: event.data.target,
    expiresAt: expiry(event),
    reason: event.data.reason,
    cause: causeOf(event),
  };
}

type Peer = { namespace?: string; workload?: string; principal?: string; ip?: string };

const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;
const withScheme = (id: string): string => (id.startsWith('spiffe://') ? id : `spiffe://${id}`);

/**
 * The two ends of a request as containment sees them. A source's workload is the service account
 * of its SPIFFE ID; a destination's is its `app` label, else its service account.
 */
export function peersOf(request: AuthzRequest): { source: Peer; destination: Peer } {
  const source = request.source;
  const sourceId = source?.principal ? withScheme(source.principal) : undefined;
  const sourceMatch = SPIFFE.exec(sourceId ?? '');
  const destinationId = request.destination.principal ? withScheme(request.destination.principal) : undefined;
  const destinationMatch = SPIFFE.exec(destinationId ?? '');
  return {
    source: {
      ...(sourceMatch?.[1] ? { namespace: sourceMatch[1] } : {}),
      ...(sourceMatch?.[2] ? { workload: sourceMatch[2] } : {}),
      ...(sourceId ? { principal: sourceId } : {}),
      ...(source?.ip ? { ip: source.ip } : {}),
    },
    destination: {
      namespace: request.destination.namespace,
      ...((request.destination.labels?.['app'] ?? destinationMatch?.[2])
        ? { workload: request.destination.labels?.['app'] ?? destinationMatch?.[2] }
        : {}),
      ...(destinationId ? { principal: destinationId } : {}),
      ...(request.destination.ip ? { ip: request.destination.ip } : {}),
    },
  };
}

export function targetMatches(target: Target, peer: Peer): boolean {
  if ('workload' in target)
    return target.workload.namespace === peer.namespace && target.workload.workload === peer.workload;
  if ('principal' in target)
    return peer.principal !== undefined && withScheme(target.principal) === peer.principal;
  return peer.ip !== undefined && target.address === peer.ip;
}

/** Whether an unexpired rule stops this request. */
export function ruleMatches(rule: ContainmentRule, request: AuthzRequest, now: Date): boolean {
  if (Date.parse(rule.expiresAt) <= now.getTime()) return false;
  const { source, destination } = peersOf(request);
  if (rule.kind === 'quarantine')
    return (
      rule.target !== undefined &&
      (targetMatches(rule.target, source) || targetMatches(rule.target, destination))
    );
  if (!rule.source && !rule.destination) return false;
  return (
    (rule.source === undefined || targetMatches(rule.source, source)) &&
    (rule.destination === undefined || targetMatches(rule.destination, destination))
  );
}
