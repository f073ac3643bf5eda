import { createHash } from 'node:crypto';
import { quarantineRuleId } from '@warden/events';
import type { DataOf, enforceDeny, enforceQuarantine, Envelope } from '@warden/events';
import type { AuthzRequest } from '@warden/policy-engine';
import { istioIdentityOf } from '@warden/pki';
import { spiffeUri } from './identity.ts';

/** Who a containment rule is about: a workload, an identity, or an address. */
export type Target = DataOf<typeof enforceQuarantine>['target'];

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
  /** A quarantine's exceptions: peers that may still talk to the target, both ways. */
  allow?: Target[];
  expiresAt: string;
  reason: string;
  /** What put it there: the event, who published it, and the alert when one did. */
  cause: { eventId: string; actor: string; alertId?: string };
};

/** The bucket key of a rule: KV keys take only a few characters, rule ids any. */
export const ruleKey = (id: string): string =>
  `rule.${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;

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
    id: quarantineRuleId(event.data.target),
    kind: 'quarantine',
    target: event.data.target,
    ...(event.data.allow?.length ? { allow: event.data.allow } : {}),
    expiresAt: expiry(event),
    reason: event.data.reason,
    cause: causeOf(event),
  };
}

export type Peer = { namespace?: string; workload?: string; principal?: string; ip?: string };
export type Peers = { source: Peer; destination: Peer };

/**
 * The two ends of a request as containment sees them. A source's workload is the service account
 * of its SPIFFE ID; a destination's is its `app` label, else its service account.
 */
export function peersOf(request: AuthzRequest): Peers {
  const source = request.source;
  const sourceId = source?.principal ? spiffeUri(source.principal) : undefined;
  const sourceIstio = istioIdentityOf(sourceId);
  const destinationId = request.destination.principal ? spiffeUri(request.destination.principal) : undefined;
  const destinationWorkload =
    request.destination.labels?.['app'] ?? istioIdentityOf(destinationId)?.serviceAccount;
  return {
    source: {
      ...(sourceIstio ? { namespace: sourceIstio.namespace, workload: sourceIstio.serviceAccount } : {}),
      ...(sourceId ? { principal: sourceId } : {}),
      ...(source?.ip ? { ip: source.ip } : {}),
    },
    destination: {
      namespace: request.destination.namespace,
      ...(destinationWorkload ? { workload: destinationWorkload } : {}),
      ...(destinationId ? { principal: destinationId } : {}),
      ...(request.destination.ip ? { ip: request.destination.ip } : {}),
    },
  };
}

export function targetMatches(target: Target, peer: Peer): boolean {
  if ('workload' in target)
    return target.workload.namespace === peer.namespace && target.workload.workload === peer.workload;
  if ('principal' in target)
    return peer.principal !== undefined && spiffeUri(target.principal) === peer.principal;
  return peer.ip !== undefined && target.address === peer.ip;
}

/** Whether an unexpired rule stops a request between these peers (`peersOf`, once per request). */
export function ruleMatches(rule: ContainmentRule, peers: Peers, now: Date): boolean {
  if (Date.parse(rule.expiresAt) <= now.getTime()) return false;
  const { source, destination } = peers;
  if (rule.kind === 'quarantine') {
    if (rule.target === undefined) return false;
    const allowed = (peer: Peer): boolean => rule.allow?.some((t) => targetMatches(t, peer)) ?? false;
    if (targetMatches(rule.target, source)) return !allowed(destination);
    if (targetMatches(rule.target, destination)) return !allowed(source);
    return false;
  }
  if (!rule.source && !rule.destination) return false;
  return (
    (rule.source === undefined || targetMatches(rule.source, source)) &&
    (rule.destination === undefined || targetMatches(rule.destination, destination))
  );
}
