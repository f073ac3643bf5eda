/**
 * The typed model of Istio's AuthorizationPolicy (`security.istio.io/v1beta1` and `v1`), the
 * request attributes it is evaluated against, and the decision. Field names follow Istio's YAML so
 * a policy reads the same here as in its documentation.
 */

export const Action = {
  ALLOW: 'ALLOW',
  DENY: 'DENY',
  AUDIT: 'AUDIT',
  CUSTOM: 'CUSTOM',
} as const;
export type Action = (typeof Action)[keyof typeof Action];

export const apiVersions = ['security.istio.io/v1beta1', 'security.istio.io/v1'] as const;

export type Source = {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  /**
   * Kubernetes service accounts (Istio 1.24+), `<namespace>/<name>`: match a peer whose SPIFFE
   * principal is `<trust domain>/ns/<namespace>/sa/<name>`. A bare `<name>` written in the YAML is
   * read in the policy's namespace, so the model always holds `<namespace>/<name>`.
   */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  /** Trust domain of the peer's principal (the part before `/ns/`): exact, prefix, suffix or `*`. */
  trustDomains?: string[];
  notTrustDomains?: string[];
};

export type Operation = {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
};

/** The list fields of `from.source` and `to.operation`, in Istio's order. */
export const sourceFields = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
] as const satisfies readonly (keyof Source)[];

export const operationFields = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const satisfies readonly (keyof Operation)[];

export type Condition = { key: string; values?: string[]; notValues?: string[] };

export type Rule = {
  from?: Source[];
  to?: Operation[];
  when?: Condition[];
  /**
   * Set when the parser dropped an invalid field of this rule. The compiler then applies Istio's
   * fail-safe asymmetry: an ALLOW or AUDIT rule is dropped whole (narrower access), a DENY or
   * CUSTOM rule keeps its remaining fields (the missing constraint makes it match more).
   */
  broken?: string;
};

export type AuthorizationPolicy = {
  apiVersion: (typeof apiVersions)[number];
  name: string;
  namespace: string;
  /** `spec.selector.matchLabels`; absent means every workload of the namespace. */
  selector?: Record<string, string>;
  action: Action;
  /** `spec.provider.name`, CUSTOM only. */
  provider?: string;
  /** Absent `rules` never match (Istio: "If not set, the match will never occur"). */
  rules: Rule[];
  /**
   * Set when the policy as a whole could not be understood (unknown action, bad selector, ...).
   * Such a policy denies every request in its scope: the decision point cannot tell what it meant.
   */
  broken?: string;
  /** 1-based position of the document in its text, for traceability. */
  line?: number;
};

/** Istio's default root namespace: policies there apply in every namespace. */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

/** Per-namespace and mesh-wide fallback when no ALLOW policy applies to a workload (ARCHITECTURE §4.5). */
export type MeshDefault = {
  /** Istio's root namespace: policies there apply to every namespace. */
  rootNamespace: string;
  /** Decision for a workload that no ALLOW policy selects; Warden's default is deny (zero trust). */
  default: 'allow' | 'deny';
  namespaces?: Record<string, 'allow' | 'deny'>;
};

export const defaultMeshDefault: MeshDefault = { rootNamespace: DEFAULT_ROOT_NAMESPACE, default: 'deny' };

/** The attributes of one request or connection, as the data plane reports them. */
export type AuthzRequest = {
  /** The workload that receives the request. */
  destination: {
    namespace: string;
    labels?: Record<string, string>;
    ip?: string;
    port?: number;
    /**
     * The destination's own identity (its certificate's SPIFFE ID, with or without `spiffe://`), as
     * Envoy reports it in `attributes.destination.principal`; Rego input only.
     */
    principal?: string;
  };
  source?: {
    /**
     * Peer identity from the verified client certificate (mTLS), with or without `spiffe://`.
     * Absent on plaintext: then `principals` and `namespaces` never match.
     */
    principal?: string;
    /** The peer address of the connection. */
    ip?: string;
    /** The peer port (Rego input only). */
    port?: number;
    /** The original client, from X-Forwarded-For or proxy protocol; defaults to `ip`. */
    remoteIp?: string;
  };
  connection?: { sni?: string };
  /** Absent for plain TCP: HTTP-only fields then cannot be evaluated. */
  http?: {
    method: string;
    /** Request path as received, query string included (ignored by path matching). */
    path: string;
    host?: string;
    headers?: Record<string, string | string[]>;
    /** Request body as forwarded by the data plane (ext_authz `with_request_body`); Rego only. */
    body?: string;
  };
  /** Result of request authentication (JWT), when a token was validated. */
  auth?: {
    principal?: string;
    audiences?: string[];
    presenter?: string;
    claims?: Record<string, unknown>;
  };
  /** When the request happened (RFC 3339 or Date); default now. Used by `request.time`. */
  time?: string | Date;
};

export const DecisionReason = {
  customDenied: 'custom_denied',
  customProviderMissing: 'custom_provider_missing',
  denyMatched: 'deny_matched',
  allowMatched: 'allow_matched',
  noAllowMatched: 'no_allow_matched',
  meshDefault: 'mesh_default',
  brokenPolicy: 'broken_policy',
  invalidRequest: 'invalid_request',
} as const;
export type DecisionReason = (typeof DecisionReason)[keyof typeof DecisionReason];

export type Decision = {
  allowed: boolean;
  reason: DecisionReason;
  /**
   * The rule that decided, named like Istio's generated RBAC policies:
   * `ns[foo]-policy[httpbin]-rule[0]`; for the mesh default `mesh-default[foo]`.
   */
  policy: string | null;
  /** Names of the AUDIT rules that matched: the request is marked for the audit log. */
  audit: string[];
  /** Human-readable explanation, for logs. */
  message: string;
  /** Revision of the policy set that decided. */
  revision: number;
  /**
   * What a CUSTOM provider (a Rego policy returning OPA-Envoy's decision object) asked the data
   * plane to do: its status, body and headers on a denial, the headers to add and remove when the
   * request is allowed. Absent when no provider said anything.
   */
  response?: DecisionResponse;
};

/** OPA-Envoy's decision object, without its verdict. */
export type DecisionResponse = {
  httpStatus: number;
  headers: [name: string, value: string][];
  responseHeadersToAdd: [name: string, value: string][];
  requestHeadersToRemove: string[];
  body: string;
};
