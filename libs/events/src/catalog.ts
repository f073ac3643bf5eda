import { z } from 'zod';
import { HASH_LENGTH } from '@warden/audit';
import { defineEvent, defineRequest, StreamName } from './define.ts';
import { isoTime } from './validate.ts';

/**
 * The subject and schema catalogue of ARCHITECTURE §2. This file is the contract: every publisher and
 * every subscriber uses these definitions, and `permissions.ts` derives each service's NATS
 * permissions from them.
 */

const name = z.string().min(1).max(253);
const namespace = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS-1123 label');
const spiffeId = z
  .string()
  .regex(/^spiffe:\/\//, 'a spiffe:// URI')
  .max(2048);
const revision = z.number().int().positive();
const sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'a hex SHA-256 digest');
/** An audit chain's hash: SHA-256 in unpadded base64url. */
const chainHash = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9_-]{${HASH_LENGTH}}$`), 'a base64url SHA-256 digest');
const labels = z.record(z.string().max(317), z.string().max(63));
const reason = z.string().min(1).max(4096);
const workloadRef = z.object({ namespace, workload: name });

// ---- policy ----------------------------------------------------------------------------------

export const PolicyKind = {
  authorizationPolicy: 'authorization-policy',
  rego: 'rego',
  meshDefaults: 'mesh-defaults',
  /** Makes an earlier revision's policy set current again, as a new revision. */
  rollback: 'rollback',
} as const;

/** Policy texts travel inside one message; larger sets are split into several submissions. */
export const MAX_POLICY_TEXT_BYTES = 512 * 1024;
const policyText = z.string().min(1).max(MAX_POLICY_TEXT_BYTES);
const policyFile = z.string().max(1024).optional();
/** A dry-run revision is evaluated beside the active one and never enforced. */
const dryRun = z.boolean().optional();

export const policySubmit = defineEvent({
  schema: 'warden.policy.v1.submit',
  stream: StreamName.policy,
  data: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal(PolicyKind.authorizationPolicy),
      /** AuthorizationPolicy YAML, possibly several documents. */
      text: policyText,
      file: policyFile,
      /** The namespace of a policy without metadata.namespace (`warden apply -n`, as kubectl's). */
      namespace: namespace.optional(),
      dryRun,
    }),
    z.object({
      kind: z.literal(PolicyKind.rego),
      /** One Rego module (v1 or v0 syntax). */
      text: policyText,
      file: policyFile,
      /** Key name of the module; defaults to its package path. */
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS-1123 label')
        .optional(),
      /** The decision rule, slash-separated; OPA-Envoy's default is envoy/authz/allow. */
      entrypoint: z.string().min(1).max(1024).optional(),
      data: z.record(z.string(), z.unknown()).optional(),
      dryRun,
    }),
    z.object({
      kind: z.literal(PolicyKind.meshDefaults),
      /** YAML: rootNamespace, default (allow|deny) and per-namespace overrides. */
      text: policyText,
      file: policyFile,
      dryRun,
    }),
    z.object({ kind: z.literal(PolicyKind.rollback), revision }),
  ]),
});

const positionedReason = z.object({
  message: reason,
  file: z.string().max(1024).optional(),
  line: z.number().int().positive().optional(),
  column: z.number().int().positive().optional(),
});

export const policyCommitted = defineEvent({
  schema: 'warden.policy.v1.committed',
  stream: StreamName.policy,
  data: z.object({
    submissionId: z.string().min(1),
    revision,
    keys: z.array(z.string().min(1)).max(100_000),
    bundleDigest: sha256.optional(),
    dryRun: z.boolean(),
  }),
});

export const policyRejected = defineEvent({
  schema: 'warden.policy.v1.rejected',
  stream: StreamName.policy,
  data: z.object({ submissionId: z.string().min(1), reasons: z.array(positionedReason).min(1) }),
});

export const policyApplied = defineEvent({
  schema: 'warden.policy.v1.applied',
  stream: StreamName.policy,
  data: z.object({ revision, decisionPoint: name }),
});

// ---- telemetry -------------------------------------------------------------------------------

const endpoint = z.object({
  namespace: namespace.optional(),
  workload: name.optional(),
  principal: spiffeId.optional(),
  address: z.string().max(64).optional(),
  port: z.number().int().min(0).max(65535).optional(),
});

export const accessRecord = z.object({
  time: isoTime,
  source: endpoint,
  destination: endpoint,
  protocol: z.enum(['http', 'grpc', 'tcp']),
  method: z.string().max(32).optional(),
  path: z.string().max(8192).optional(),
  status: z.number().int().min(0).max(999).optional(),
  durationMs: z.number().nonnegative().optional(),
  bytesSent: z.number().int().nonnegative().optional(),
  bytesReceived: z.number().int().nonnegative().optional(),
  decision: z.enum(['allow', 'deny']).optional(),
  /** A decision point's record: why it decided (`allow_matched`, `no_revision`, ...). */
  reason: z.string().max(64).optional(),
  /** The rule that decided, named like Istio's RBAC rules: `ns[shop]-policy[cart]-rule[0]`. */
  policy: z.string().max(512).optional(),
  /** The policy revision that decided. */
  revision: revision.optional(),
});

export const telemetryAccess = defineEvent({
  schema: 'warden.telemetry.v1.access',
  qualifiers: ['namespace', 'workload'],
  stream: StreamName.telemetry,
  data: z.object({ records: z.array(accessRecord).min(1).max(10_000) }),
});

/**
 * A decision point's records of what it decided (every deny, a sample of allows), in the access
 * record's shape with `decision`, `reason`, `policy` and `revision`. A subject of its own, apart
 * from the data plane's `access`: telemetry-ingest folds these into its deny counts and must not
 * read back the access records it writes itself.
 */
export const telemetryDecision = defineEvent({
  schema: 'warden.telemetry.v1.decision',
  qualifiers: ['namespace', 'workload'],
  stream: StreamName.telemetry,
  data: z.object({ records: z.array(accessRecord).min(1).max(10_000) }),
});

export const telemetryFeatures = defineEvent({
  schema: 'warden.telemetry.v1.features',
  qualifiers: ['namespace', 'workload'],
  stream: StreamName.telemetry,
  data: z.object({
    windowStart: isoTime,
    windowEnd: isoTime,
    /** 1 or 10 (seconds): the windows telemetry-ingest computes. */
    windowSeconds: z.number().int().positive().max(3600).optional(),
    /** `workload`: the subject's workload; `edge`: calls from `peer` to the subject's workload. */
    scope: z.enum(['workload', 'edge']).optional(),
    peer: workloadRef.optional(),
    features: z.record(z.string().max(128), z.number()),
  }),
});

// ---- alerts ----------------------------------------------------------------------------------

export const Severity = { critical: 'critical', warning: 'warning', info: 'info' } as const;

/** Sample access records an alert carries at most: enough to see what happened, not a log. */
export const MAX_ALERT_SAMPLES = 5;

/**
 * Why an alert fired, for the people and playbooks acting on it: which detector, the rule or
 * model, its score, the window it judged, the conditions that held, and a few access records of
 * that window (`samples`), or why there are none (`samplesNote`). Firing events carry it;
 * resolved events do not repeat it.
 */
const alertEvidence = z.object({
  detector: z.enum(['query-rule', 'streaming-rule', 'lstm', 'threat-intel']),
  /** The model version (`lstm`). */
  model: z.string().max(128).optional(),
  score: z.number().min(0).max(1_000_000).optional(),
  window: z.object({ start: isoTime, end: isoTime }).optional(),
  conditions: z
    .array(
      z.object({
        feature: z.string().max(128),
        kind: z.enum(['threshold', 'rate', 'zscore', 'forecast']),
        value: z.number(),
        required: z.number().optional(),
        baseline: z.number().optional(),
        z: z.number().optional(),
      }),
    )
    .max(16)
    .optional(),
  samples: z.array(accessRecord).max(MAX_ALERT_SAMPLES).optional(),
  samplesNote: z.string().max(512).optional(),
});

export const alert = defineEvent({
  schema: 'warden.alert.v1',
  qualifiers: ['severity', 'namespace', 'workload'],
  stream: StreamName.alerts,
  data: z.object({
    alertId: z.string().min(1),
    status: z.enum(['firing', 'resolved']),
    severity: z.enum([Severity.critical, Severity.warning, Severity.info]),
    rule: name,
    target: workloadRef,
    summary: z.string().max(4096),
    labels: labels.default({}),
    startsAt: isoTime,
    endsAt: isoTime.optional(),
    evidence: alertEvidence.optional(),
  }),
});

// ---- enforcement -----------------------------------------------------------------------------

const ttlSeconds = z
  .number()
  .int()
  .positive()
  .max(30 * 24 * 3600);

const containmentTarget = z.union([
  z.object({ workload: workloadRef }),
  z.object({ principal: spiffeId }),
  z.object({ address: z.string().min(1).max(64) }),
]);

export const enforceDeny = defineEvent({
  schema: 'warden.enforce.v1.deny',
  stream: StreamName.enforcement,
  data: z.object({
    ruleId: z.string().min(1).max(128),
    source: containmentTarget.optional(),
    destination: containmentTarget.optional(),
    ttlSeconds,
    reason,
    alertId: z.string().optional(),
  }),
});

export const enforceQuarantine = defineEvent({
  schema: 'warden.enforce.v1.quarantine',
  stream: StreamName.enforcement,
  data: z.object({
    target: containmentTarget,
    ttlSeconds,
    reason,
    alertId: z.string().optional(),
    /** Peers that may still talk to the target both ways (a forensics workload). */
    allow: z.array(containmentTarget).max(16).optional(),
  }),
});

/**
 * A quarantine's rule id is its target, so that `.release` can name it and a second quarantine of
 * the same target replaces the first.
 */
export const quarantineRuleId = (target: z.infer<typeof containmentTarget>): string =>
  `quarantine:${JSON.stringify(target)}`;

export const enforceRelease = defineEvent({
  schema: 'warden.enforce.v1.release',
  stream: StreamName.enforcement,
  data: z.object({ ruleId: z.string().min(1).max(128), reason }),
});

export const enforceRevoke = defineEvent({
  schema: 'warden.enforce.v1.revoke',
  stream: StreamName.enforcement,
  data: z.union([
    z.object({ principal: spiffeId, reason, alertId: z.string().optional() }),
    z.object({ serial: z.string().min(1).max(128), reason, alertId: z.string().optional() }),
  ]),
});

// ---- audit -----------------------------------------------------------------------------------

/** What a service says happened; `Bus.audit` adds the chain link and publishes it as a record. */
export const auditEntry = z.object({
  /** What kind of event (`service`, `identity`, `containment`...): a lower-case word. */
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'a lower-case word'),
  actor: z.string().min(1).max(2048),
  action: z.string().min(1).max(128),
  target: z.string().max(2048),
  outcome: z.enum(['success', 'failure', 'denied']),
  details: z.record(z.string(), z.unknown()).default({}),
});

/** A subject token naming a writer: the principal, or its instance. */
const writerToken = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'one subject token');

/**
 * `warden.audit.v1.record.<principal>.<instance>`: one record of a writer's hash chain
 * (ARCHITECTURE §7). nats-server lets each principal publish only under its own name; `chain`
 * repeats the writer, so a record copied elsewhere no longer verifies.
 */
export const audit = defineEvent({
  schema: 'warden.audit.v1.record',
  qualifiers: ['principal', 'instance'],
  stream: StreamName.audit,
  data: auditEntry.extend({
    chain: z.object({
      principal: writerToken,
      instance: writerToken,
      seq: z.number().int().positive(),
      prev: chainHash,
      hash: chainHash,
    }),
  }),
});

/**
 * `warden.audit.v1.checkpoint.<principal>.<instance>`: the writer's signature (its NATS nkey,
 * Ed25519) over the head of its chain, every N records, every T seconds and on a clean stop.
 */
export const auditCheckpoint = defineEvent({
  schema: 'warden.audit.v1.checkpoint',
  qualifiers: ['principal', 'instance'],
  stream: StreamName.audit,
  data: z.object({
    principal: writerToken,
    instance: writerToken,
    seq: z.number().int().positive(),
    hash: chainHash,
    at: isoTime,
    reason: z.enum(['count', 'interval', 'stop']),
    publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'an nkey user public key'),
    signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'a base64url Ed25519 signature'),
  }),
});

// ---- identity --------------------------------------------------------------------------------

export const identityIssued = defineEvent({
  schema: 'warden.identity.v1.issued',
  stream: StreamName.identity,
  data: z.object({
    serial: z.string().min(1).max(128),
    spiffeId,
    notBefore: isoTime,
    notAfter: isoTime,
    issuer: z.string().max(2048),
  }),
});

export const identityRevoked = defineEvent({
  schema: 'warden.identity.v1.revoked',
  stream: StreamName.identity,
  data: z.object({
    serials: z.array(z.string().min(1).max(128)).max(100_000),
    spiffeId: spiffeId.optional(),
    reason,
  }),
});

export const identityBundle = defineEvent({
  schema: 'warden.identity.v1.bundle',
  stream: StreamName.identity,
  data: z.object({
    trustDomain: z.string().min(1).max(255),
    sequence: z.number().int().nonnegative(),
    rootsPem: z.array(z.string().min(1)).min(1),
  }),
});

export const identityEntry = defineEvent({
  schema: 'warden.identity.v1.entry',
  stream: StreamName.identity,
  data: z.object({
    op: z.enum(['upsert', 'delete']),
    spiffeId,
    host: name,
    selectors: z.record(z.string().max(128), z.string().max(1024)).default({}),
  }),
});

// ---- topology --------------------------------------------------------------------------------

const workloadRegistration = z.object({
  namespace,
  workload: name,
  address: z.string().min(1).max(64),
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['http', 'grpc', 'tcp']),
  serviceAccount: name,
  labels: labels.default({}),
});

const topologyProtocol = z.enum(['http', 'grpc', 'tcp']);
const graphNode = z.object({
  namespace: namespace.optional(),
  workload: name.optional(),
  address: z.string().max(64).optional(),
});
const count = z.number().int().nonnegative();

/** One edge of the observed call graph with its counts over a time range (a query) or one bucket (a snapshot). */
const graphEdge = z.object({
  source: graphNode,
  destination: graphNode,
  method: z.string().max(16),
  pathPrefix: z.string().max(256),
  requests: count,
  errors: count,
  denies: count,
  bytes: count,
  firstSeen: isoTime,
  lastSeen: isoTime,
});

/** Edges in one graph snapshot message; the publisher also keeps each message far under max_payload. */
export const MAX_SNAPSHOT_EDGES = 10_000;

/**
 * A `changed` event carries either registry changes or one part of a call-graph snapshot: the
 * current values, absolute for their bucket, of the edges written since the previous snapshot.
 * Replaying the snapshots of a bucket and keeping each edge's largest values restores it (the
 * values only ever grow), whatever the order or the number of times they are applied.
 */
const graphSnapshot = z.object({
  /** Start of the time bucket, and its width (a graph with other buckets cannot use these values). */
  bucket: isoTime,
  bucketSeconds: z.number().int().min(1).max(86_400),
  /** The parts of one bucket's snapshot share this id; `part` counts from 1 to `parts`. */
  snapshot: z.string().min(1).max(128),
  part: z.number().int().min(1),
  parts: z.number().int().min(1),
  edges: z.array(graphEdge).min(1).max(MAX_SNAPSHOT_EDGES),
});

export const topologyChanged = defineEvent({
  schema: 'warden.topology.v1.changed',
  stream: StreamName.topology,
  data: z.union([
    z.object({
      changes: z
        .array(
          z.object({
            op: z.enum(['added', 'updated', 'removed']),
            kind: z.enum(['namespace', 'service', 'workload']),
            key: z.string().min(1),
          }),
        )
        .min(1),
    }),
    z.object({ graph: graphSnapshot }),
  ]),
});

export const topologyRegister = defineEvent({
  schema: 'warden.topology.v1.register',
  stream: StreamName.topology,
  data: workloadRegistration,
});

export const topologyDeregister = defineEvent({
  schema: 'warden.topology.v1.deregister',
  stream: StreamName.topology,
  data: workloadRef,
});

export const topologyHeartbeat = defineEvent({
  schema: 'warden.topology.v1.heartbeat',
  qualifiers: ['namespace', 'workload'],
  stream: null,
  data: z.object({
    address: z.string().max(64).optional(),
    intervalSeconds: z.number().positive().max(3600),
  }),
});

// ---- request/reply ---------------------------------------------------------------------------

export const caSign = defineRequest({
  subject: 'warden.ca.v1.sign',
  request: z.object({
    csrPem: z.string().min(1).max(16_384),
    evidence: z.discriminatedUnion('type', [
      z.object({ type: z.literal('join-token'), token: z.string().min(1).max(512) }),
      z.object({
        type: z.literal('svid'),
        chainPem: z.string().min(1).max(65_536),
        signature: z.string().max(1024),
      }),
      z.object({ type: z.literal('k8s-sat'), token: z.string().min(1).max(16_384) }),
    ]),
    ttlSeconds: z.number().int().positive().optional(),
  }),
  reply: z.object({
    chainPem: z.array(z.string().min(1)).min(1),
    spiffeId,
    serial: z.string(),
    notAfter: isoTime,
  }),
});

export const caBundle = defineRequest({
  subject: 'warden.ca.v1.bundle',
  request: z.object({}),
  reply: identityBundle.data,
});

/** A single-use join token bound to one SPIFFE ID (`warden token create`); the CA stores only its hash. */
export const caToken = defineRequest({
  subject: 'warden.ca.v1.token',
  request: z.object({
    spiffeId,
    ttlSeconds: z
      .number()
      .int()
      .positive()
      .max(30 * 24 * 3600)
      .optional(),
  }),
  reply: z.object({ token: z.string().min(1).max(512), spiffeId, expiresAt: isoTime }),
});

export const policyStatus = defineRequest({
  subject: 'warden.policy.v1.status',
  request: z.object({
    /** Also list every revision (newest first). */
    history: z.boolean().optional(),
    /** Also list the policies of the active revision. */
    policies: z.boolean().optional(),
  }),
  reply: z.object({
    revision: z.number().int().nonnegative(),
    dryRunRevision: z.number().int().nonnegative().optional(),
    rollout: z.array(
      z.object({ decisionPoint: name, revision: z.number().int().nonnegative(), at: isoTime }),
    ),
    history: z
      .array(
        z.object({
          revision,
          at: isoTime,
          submissionId: z.string(),
          dryRun: z.boolean(),
          keys: z.array(z.string()),
          rollbackOf: revision.optional(),
        }),
      )
      .optional(),
    policies: z.array(z.object({ key: z.string(), kind: z.string(), digest: sha256, revision })).optional(),
  }),
});

export const topologyQuery = defineRequest({
  subject: 'warden.topology.v1.query',
  request: z.object({
    what: z.enum(['registry', 'graph']),
    namespace: namespace.optional(),
    workload: name.optional(),
    /** Graph only: the time range, bucket-aligned (default: the last hour). */
    since: isoTime.optional(),
    until: isoTime.optional(),
    /** Paging: at most `limit` items, after the item whose key is `after` (the previous `next`). */
    limit: z.number().int().min(1).max(5000).optional(),
    after: z.string().max(2048).optional(),
  }),
  reply: z.object({
    namespaces: z
      .array(z.object({ name: namespace, labels, serviceAccounts: z.array(name).max(100_000) }))
      .max(5000),
    services: z
      .array(
        z.object({
          namespace,
          name,
          ports: z
            .array(
              z.object({
                name: z.string().max(63).optional(),
                port: z.number().int().min(1).max(65535),
                protocol: topologyProtocol,
              }),
            )
            .max(256),
          selector: labels,
          labels,
        }),
      )
      .max(5000),
    workloads: z
      .array(
        z.object({
          namespace,
          name,
          address: z.string().max(64),
          port: z.number().int().min(0).max(65535),
          protocol: topologyProtocol,
          labels,
          serviceAccount: name,
          spiffeId,
          services: z.array(name).max(256),
          source: z.enum(['kubernetes', 'static', 'registration']),
        }),
      )
      .max(5000),
    edges: z.array(graphEdge).max(5000),
    /** Graph only: the range actually covered, after aligning to buckets. */
    since: isoTime.optional(),
    until: isoTime.optional(),
    /** Present when more items follow: pass it as `after`. */
    next: z.string().max(2048).optional(),
  }),
});

/** Every event type, for provisioning, documentation and permission checks. */
export const events = {
  policySubmit,
  policyCommitted,
  policyRejected,
  policyApplied,
  telemetryAccess,
  telemetryDecision,
  telemetryFeatures,
  alert,
  enforceDeny,
  enforceQuarantine,
  enforceRelease,
  enforceRevoke,
  audit,
  auditCheckpoint,
  identityIssued,
  identityRevoked,
  identityBundle,
  identityEntry,
  topologyChanged,
  topologyRegister,
  topologyDeregister,
  topologyHeartbeat,
} as const;

const containmentRule = z.object({
  id: z.string().min(1).max(2048),
  kind: z.enum(['deny', 'quarantine']),
  source: containmentTarget.optional(),
  destination: containmentTarget.optional(),
  target: containmentTarget.optional(),
  allow: z.array(containmentTarget).max(16).optional(),
  expiresAt: isoTime,
  reason,
  cause: z.object({
    eventId: z.string().max(128),
    actor: z.string().max(2048),
    alertId: z.string().optional(),
  }),
});

/** One enforcer's view: the revision it enforces and the containment in force. */
export const enforcerStatus = defineRequest({
  subject: 'warden.enforcer.v1.status',
  request: z.object({}),
  reply: z.object({
    decisionPoint: z.string().min(1).max(253),
    revision: z.number().int().nonnegative(),
    dryRunRevision: z.number().int().nonnegative(),
    revokedSerials: z.number().int().nonnegative(),
    /** Rules in force, soonest to expire first. */
    containment: z.array(containmentRule).max(100_000),
    /** The ADS snapshot's version (`<policy revision>.<build>`). */
    xdsVersion: z.string().max(64).optional(),
    /** Data planes connected to this replica's ADS, per resource type: sent, acknowledged, rejected. */
    dataPlanes: z
      .array(
        z.object({
          node: z.string().max(2048),
          cluster: z.string().max(253),
          /** `sotw` (state of the world) or `delta` (incremental ADS). */
          protocol: z.enum(['sotw', 'delta']).optional(),
          types: z
            .array(
              z.object({
                typeUrl: z.string().max(256),
                version: z.string().max(64).optional(),
                acked: z.string().max(64).optional(),
                nacked: z.object({ version: z.string().max(64), message: z.string().max(65_536) }).optional(),
              }),
            )
            .max(16),
        }),
      )
      .max(100_000)
      .optional(),
    /** HAProxy terminators this replica drives: the state of their deny maps, QAT. */
    terminators: z
      .array(
        z.object({
          workload: z.string().max(253),
          bind: z.string().max(300),
          pid: z.number().int().nullable(),
          adopted: z.boolean(),
          qat: z.string().max(4096),
          quarantinedIdentities: z.number().int().nonnegative(),
          quarantinedAddresses: z.number().int().nonnegative(),
          revokedSerials: z.number().int().nonnegative(),
          lockdown: z.boolean(),
        }),
      )
      .max(256)
      .optional(),
  }),
});

export const requests = { caSign, caBundle, caToken, policyStatus, topologyQuery, enforcerStatus } as const;
