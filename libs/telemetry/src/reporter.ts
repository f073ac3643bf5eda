import { istioIdentityOf } from '@warden/pki';

/**
 * Who may report what. A data plane that sends telemetry over mTLS is known by its SVID; it speaks
 * only for its own side of a call (the callee of an inbound record, the caller of an outbound
 * one), so a compromised workload cannot make another look like an attacker by reporting calls
 * that workload made. What it says about its peer is taken as it says it: that is the residual
 * trust every telemetry pipeline places in the proxy that saw the call.
 */
export const ReporterBinding = {
  /** The reporting side's namespace is the SVID's and its workload is the SVID's service account. */
  serviceAccount: 'service-account',
  /** The reporting side's namespace is the SVID's; any workload of that namespace. */
  namespace: 'namespace',
} as const;
export type ReporterBinding = (typeof ReporterBinding)[keyof typeof ReporterBinding];

/** A reporter known by its certificate. */
export type Reporter = {
  readonly principal: string;
  readonly namespace: string;
  readonly serviceAccount: string;
};

/** One side of a record or counter sample, as far as the binding looks at it. */
type Side = { readonly namespace?: string; readonly workload?: string; readonly principal?: string };

/**
 * The reporter a peer certificate names, from Node's `subjectaltname` text (`URI:spiffe://…,
 * DNS:…`); a string says why there is none. An SVID's only URI SAN is its SPIFFE ID, which must
 * have Istio's shape and belong to `trustDomain`.
 */
export function reporterOfCertificate(
  subjectAltName: string | undefined,
  trustDomain: string,
): Reporter | string {
  if (!subjectAltName) return 'the client certificate has no subject alternative name';
  const uris = subjectAltName
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length));
  if (uris.length !== 1) return `the client certificate has ${uris.length} URI SANs; an SVID has exactly one`;
  const principal = uris[0] ?? '';
  const identity = istioIdentityOf(principal);
  if (!identity)
    return `${principal} is not a SPIFFE ID of the shape spiffe://<trust domain>/ns/<namespace>/sa/<service account>`;
  if (identity.trustDomain !== trustDomain)
    return `${principal} is not of this trust domain (${trustDomain})`;
  return { principal, namespace: identity.namespace, serviceAccount: identity.serviceAccount };
}

/** True when `side` may be the reporter's own side of a call. */
export function speaksFor(reporter: Reporter, binding: ReporterBinding, side: Side): boolean {
  if (side.namespace !== reporter.namespace) return false;
  if (binding === ReporterBinding.serviceAccount && side.workload !== reporter.serviceAccount) return false;
  return side.principal === undefined || side.principal === reporter.principal;
}

/** What of a batch the reporter may send, and how many items it may not. */
export function bindToReporter<T extends { readonly source: Side; readonly destination: Side }>(
  items: readonly T[],
  reporter: Reporter,
  binding: ReporterBinding,
): { kept: T[]; refused: number } {
  const kept: T[] = [];
  for (const item of items) {
    if (speaksFor(reporter, binding, item.source) || speaksFor(reporter, binding, item.destination))
      kept.push(item);
  }
  return { kept, refused: items.length - kept.length };
}

/** Why a reporter may not send what it claims to be, in words for a log and a gRPC status. */
export function refusalOf(reporter: Reporter, binding: ReporterBinding): string {
  return binding === ReporterBinding.serviceAccount
    ? `${reporter.principal} reports only calls its own workload (${reporter.namespace}/${reporter.serviceAccount}) received or made`
    : `${reporter.principal} reports only calls of workloads in its namespace (${reporter.namespace})`;
}
