import { SpiffeIdError, SpiffeIdProblem } from './errors.ts';

/**
 * SPIFFE IDs exactly as the SPIFFE ID specification defines them
 * (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): `spiffe://` in lower case,
 * a trust domain of `[a-z0-9._-]` (at most 255 characters), then an optional path of `/`-separated
 * segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`, with no trailing slash. No userinfo, port,
 * query or fragment, no percent-encoding, at most 2048 bytes in all. Anything else is refused
 * with a `SpiffeIdError` naming the rule, never normalised: two spellings of one identity would
 * let a policy written for one miss the other.
 */

export const SPIFFE_SCHEME_PREFIX = 'spiffe://';
export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export type SpiffeId = {
  readonly trustDomain: string;
  /** The path including its leading slash, or `''` for the ID of the trust domain itself. */
  readonly path: string;
  readonly segments: readonly string[];
  /** The canonical string form, `spiffe://<trust domain><path>`. */
  readonly uri: string;
};

/** Validates a trust domain name and returns it unchanged. */
export function parseTrustDomain(name: string): string {
  if (name.length === 0)
    throw new SpiffeIdError(SpiffeIdProblem.missingTrustDomain, 'trust domain is missing');
  if (name.length > MAX_TRUST_DOMAIN_LENGTH)
    throw new SpiffeIdError(
      SpiffeIdProblem.trustDomainTooLong,
      `trust domain is ${name.length} characters long; the limit is ${MAX_TRUST_DOMAIN_LENGTH}`,
    );
  if (name.includes('@'))
    throw new SpiffeIdError(SpiffeIdProblem.userinfo, 'trust domain cannot contain userinfo (@)');
  if (name.includes(':'))
    throw new SpiffeIdError(SpiffeIdProblem.port, 'trust domain cannot contain a port (:)');
  if (!TRUST_DOMAIN_CHARS.test(name))
    throw new SpiffeIdError(
      SpiffeIdProblem.trustDomainChar,
      'trust domain characters are limited to lower-case letters, digits, dots, dashes and underscores',
    );
  return name;
}

function parsePath(path: string): string[] {
  if (path === '') return [];
  if (path.endsWith('/'))
    throw new SpiffeIdError(SpiffeIdProblem.trailingSlash, 'path cannot have a trailing slash');
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '')
      throw new SpiffeIdError(SpiffeIdProblem.emptySegment, 'path cannot contain empty segments');
    if (segment === '.' || segment === '..')
      throw new SpiffeIdError(SpiffeIdProblem.dotSegment, 'path cannot contain . or .. segments');
    if (!SEGMENT_CHARS.test(segment))
      throw new SpiffeIdError(
        SpiffeIdProblem.pathChar,
        'path segment characters are limited to letters, digits, dots, dashes and underscores',
      );
  }
  return segments;
}

/** Parses and validates a SPIFFE ID; throws `SpiffeIdError` with the rule it breaks. */
export function parseSpiffeId(text: string): SpiffeId {
  if (typeof text !== 'string' || text.length === 0)
    throw new SpiffeIdError(SpiffeIdProblem.empty, 'SPIFFE ID is empty');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_SPIFFE_ID_BYTES)
    throw new SpiffeIdError(
      SpiffeIdProblem.tooLong,
      `SPIFFE ID is ${bytes} bytes long; the limit is ${MAX_SPIFFE_ID_BYTES}`,
    );
  if (!text.startsWith(SPIFFE_SCHEME_PREFIX))
    throw new SpiffeIdError(SpiffeIdProblem.scheme, 'scheme must be spiffe:// (lower case)');
  // Query and fragment are looked for first so that their error is the one reported, not the
  // character error the `?` or `#` would otherwise raise.
  if (text.includes('?')) throw new SpiffeIdError(SpiffeIdProblem.query, 'SPIFFE ID cannot contain a query');
  if (text.includes('#'))
    throw new SpiffeIdError(SpiffeIdProblem.fragment, 'SPIFFE ID cannot contain a fragment');
  const rest = text.slice(SPIFFE_SCHEME_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = parseTrustDomain(slash === -1 ? rest : rest.slice(0, slash));
  const path = slash === -1 ? '' : rest.slice(slash);
  const segments = parsePath(path);
  return Object.freeze({ trustDomain, path, segments: Object.freeze(segments), uri: text });
}

/** True when `text` is a valid SPIFFE ID. */
export function isSpiffeId(text: string): boolean {
  try {
    parseSpiffeId(text);
    return true;
  } catch {
    return false;
  }
}

/** Builds a SPIFFE ID from a trust domain and path segments, validating both. */
export function spiffeIdFromSegments(trustDomain: string, segments: readonly string[]): SpiffeId {
  const path = segments.map((s) => `/${s}`).join('');
  return parseSpiffeId(`${SPIFFE_SCHEME_PREFIX}${trustDomain}${path}`);
}

/** The ID of a trust domain itself, `spiffe://<td>` (carried by signing certificates). */
export const trustDomainId = (trustDomain: string): SpiffeId => spiffeIdFromSegments(trustDomain, []);

// ---- Istio's shape: spiffe://<trust domain>/ns/<namespace>/sa/<service account> ---------------

export type IstioIdentity = {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
};

/** Kubernetes namespaces are DNS-1123 labels; service accounts DNS-1123 subdomains. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `spiffe://<td>/ns/<namespace>/sa/<serviceAccount>`, with Kubernetes' name rules on both. */
export function istioSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): SpiffeId {
  if (!DNS_LABEL.test(namespace))
    throw new SpiffeIdError(
      SpiffeIdProblem.notIstio,
      `namespace ${JSON.stringify(namespace)} is not a DNS-1123 label`,
    );
  if (!DNS_SUBDOMAIN.test(serviceAccount))
    throw new SpiffeIdError(
      SpiffeIdProblem.notIstio,
      `service account ${JSON.stringify(serviceAccount)} is not a DNS-1123 subdomain`,
    );
  return spiffeIdFromSegments(trustDomain, ['ns', namespace, 'sa', serviceAccount]);
}

/** Reads an Istio-shaped SPIFFE ID; throws `SpiffeIdError` (`not_istio`) for any other shape. */
export function parseIstioSpiffeId(text: string | SpiffeId): IstioIdentity {
  const id = typeof text === 'string' ? parseSpiffeId(text) : text;
  const [ns, namespace, sa, serviceAccount, ...more] = id.segments;
  if (
    ns !== 'ns' ||
    sa !== 'sa' ||
    namespace === undefined ||
    serviceAccount === undefined ||
    more.length > 0 ||
    !DNS_LABEL.test(namespace) ||
    !DNS_SUBDOMAIN.test(serviceAccount)
  )
    throw new SpiffeIdError(
      SpiffeIdProblem.notIstio,
      `${id.uri} is not of the shape spiffe://<trust domain>/ns/<namespace>/sa/<service account>`,
    );
  return { trustDomain: id.trustDomain, namespace, serviceAccount };
}

/** `parseIstioSpiffeId`, or undefined for anything that is not an Istio-shaped SPIFFE ID. */
export function istioIdentityOf(text: string | undefined): IstioIdentity | undefined {
  if (!text) return undefined;
  try {
    return parseIstioSpiffeId(text);
  } catch {
    return undefined;
  }
}
