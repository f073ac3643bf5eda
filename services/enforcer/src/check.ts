import type { DataOf, telemetryDecision } from '@warden/events';
import type { CheckRequest, CheckRequestOptions, CheckResponse } from '@warden/envoy';
import { toAuthzRequest, toCheckResponse } from '@warden/envoy';
import type { AuthzRequest, Decision } from '@warden/policy-engine';
import { istioIdentityOf } from '@warden/pki';
import { spiffeUri } from './identity.ts';

export type AccessRecord = DataOf<typeof telemetryDecision>['records'][number];

/** Why the decision point denied without a policy's verdict (beside the engine's own reasons). */
export const FailClosed = {
  /** ARCHITECTURE §4 step 1: no verified SVID (Envoy names the peer only after verifying it). */
  noPeerIdentity: 'no_peer_identity',
  /** Step 1 too: the peer's certificate is revoked. */
  revokedIdentity: 'revoked_identity',
  /** Revocation cannot be checked: Envoy sent no peer certificate (`include_peer_certificate`). */
  noPeerCertificate: 'no_peer_certificate',
  /** Step 2: an unexpired emergency deny matches the request. */
  emergencyDeny: 'emergency_deny',
  /** Step 2: the source or the destination is quarantined. */
  quarantined: 'quarantined',
  /** Step 3: a threat-intelligence feed lists the source's address or SPIFFE ID. */
  threatIntel: 'threat_intel',
  noRevision: 'no_revision',
  invalidRequest: 'invalid_request',
  evaluationError: 'evaluation_error',
} as const;

export type CheckHandlerOptions = {
  /** The decision order of ARCHITECTURE §4 on the active revision (a dry run beside it). */
  decide(request: AuthzRequest): Decision;
  /** The revision in force; 0 while none has been applied. */
  revision(): number;
  /** The serial and SPIFFE ID of a PEM certificate; throws on one it cannot read. */
  inspect(pem: string): { serial: string; spiffeId: string | null };
  isRevoked(serial: string): boolean;
  /** The containment rule that stops this request, if one does (ARCHITECTURE §4 step 2). */
  contained?(request: AuthzRequest, now: Date): { kind: 'deny' | 'quarantine' } | undefined;
  /** The feed entry listing the source (ARCHITECTURE §4 step 3), named `feed[<feed>]:<entry>`. */
  listed?(source: { addresses: readonly string[]; principal: string }): string | undefined;
  /** Deny a Check without the peer's certificate, whose revocation cannot then be checked. */
  requirePeerCertificate: boolean;
  /** A decision record for the bus. */
  record(record: AccessRecord): void;
  /** Share of allows recorded; every deny is. */
  allowSample: number;
  random?: () => number;
  labelsFor?: CheckRequestOptions['labelsFor'];
  /** Counts each answer by result and reason. */
  count?: (allowed: boolean, reason: string) => void;
};

/** What the gRPC shell calls. */
export type Checker = { check(check: CheckRequest): CheckResponse };

/**
 * One ext_authz Check, transport aside: translate, decide, record, answer. It never throws, and
 * whatever keeps it from a policy's verdict (no revision yet, a request it cannot read, an
 * evaluation that fails) is a deny naming the reason.
 */
export class CheckHandler {
  private readonly options: CheckHandlerOptions;

  constructor(options: CheckHandlerOptions) {
    this.options = options;
  }

  check(check: CheckRequest, now = new Date()): CheckResponse {
    const translated = toAuthzRequest(
      check,
      this.options.labelsFor ? { labelsFor: this.options.labelsFor } : {},
    );
    if (!translated.ok) return this.answer(null, false, FailClosed.invalidRequest, now);
    const request = translated.request;
    const principal = request.source?.principal;
    if (!principal) return this.answer(request, false, FailClosed.noPeerIdentity, now);
    const refused = this.refusedIdentity(principal, translated.peerCertificate);
    if (refused) return this.answer(request, false, refused, now);
    const contained = this.options.contained?.(request, now);
    if (contained)
      return this.answer(
        request,
        false,
        contained.kind === 'quarantine' ? FailClosed.quarantined : FailClosed.emergencyDeny,
        now,
      );
    // The peer, and the original client an ingress names (X-Forwarded-For): either listed denies.
    const addresses = [request.source?.ip, request.source?.remoteIp].filter((a): a is string => !!a);
    const listed = this.options.listed?.({ principal, addresses });
    if (listed) return this.answer(request, false, FailClosed.threatIntel, now, { policy: listed });
    if (this.options.revision() === 0) return this.answer(request, false, FailClosed.noRevision, now);
    let decision: Decision;
    try {
      decision = this.options.decide(request);
    } catch {
      return this.answer(request, false, FailClosed.evaluationError, now);
    }
    return this.answer(request, decision.allowed, decision.reason, now, decision);
  }

  /** Step 1 beyond the principal: the certificate it came from must be readable, its own, and not revoked. */
  private refusedIdentity(principal: string, pem: string | undefined): string | undefined {
    if (pem === undefined)
      return this.options.requirePeerCertificate ? FailClosed.noPeerCertificate : undefined;
    let certificate: { serial: string; spiffeId: string | null };
    try {
      certificate = this.options.inspect(pem);
    } catch {
      return FailClosed.invalidRequest;
    }
    if (certificate.spiffeId !== spiffeUri(principal)) return FailClosed.invalidRequest;
    return this.options.isRevoked(certificate.serial) ? FailClosed.revokedIdentity : undefined;
  }

  private answer(
    request: AuthzRequest | null,
    allowed: boolean,
    reason: string,
    now: Date,
    decision?: Partial<Pick<Decision, 'policy' | 'revision' | 'response'>>,
  ): CheckResponse {
    this.options.count?.(allowed, reason);
    const sampled = !allowed || (this.options.random ?? Math.random)() < this.options.allowSample;
    if (sampled) this.options.record(recordOf(request, allowed, reason, now, decision));
    return toCheckResponse({ allowed, reason: reason as Decision['reason'] }, decision?.response);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A name the record schema takes, or nothing: a record is never refused for one odd field. */
const label = (value: string | undefined): string | undefined =>
  value !== undefined && DNS_LABEL.test(value) ? value : undefined;

/** What the detector and the topology graph read about one decided request. */
export function recordOf(
  request: AuthzRequest | null,
  allowed: boolean,
  reason: string,
  now: Date,
  decision?: Partial<Pick<Decision, 'policy' | 'revision'>>,
): AccessRecord {
  const endpoint = (
    peer: { principal?: string; ip?: string; port?: number } | undefined,
    namespace?: string,
  ) => {
    const principal =
      peer?.principal?.startsWith('spiffe://') && peer.principal.length <= 2048 ? peer.principal : undefined;
    const id = istioIdentityOf(principal);
    // The destination's namespace is the one the decision was made for, odd or not.
    const ns = namespace !== undefined ? label(namespace) : id?.namespace;
    const workload = label(id?.serviceAccount);
    return {
      ...(ns ? { namespace: ns } : {}),
      ...(workload ? { workload } : {}),
      ...(principal ? { principal } : {}),
      ...(peer?.ip ? { address: peer.ip.slice(0, 64) } : {}),
      ...(peer?.port !== undefined ? { port: peer.port } : {}),
    };
  };
  const destination = request
    ? {
        ...endpoint(request.destination, request.destination.namespace),
        ...(label(request.destination.labels?.['app'])
          ? { workload: request.destination.labels?.['app'] }
          : {}),
      }
    : {};
  return {
    time: now.toISOString(),
    source: endpoint(request?.source),
    destination,
    protocol: request?.http ? 'http' : 'tcp',
    ...(request?.http
      ? { method: request.http.method.slice(0, 32), path: request.http.path.slice(0, 8192) }
      : {}),
    decision: allowed ? 'allow' : 'deny',
    reason: reason.slice(0, 64),
    ...(decision?.policy ? { policy: decision.policy.slice(0, 512) } : {}),
    ...(decision?.revision ? { revision: decision.revision } : {}),
  };
}
