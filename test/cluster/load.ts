/**
 * The chaos test's load: four loops that run while things are killed, each recording what the
 * system acknowledged and when. Every attempt uses fresh ids (a policy submission, a join token
 * and SPIFFE ID, an audit target), so an attempt that failed but was stored anyway can never be
 * taken for the acknowledgement of another.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from '@warden/events';
import { alert, caSign, caToken, policyCommitted, policyRejected, policySubmit } from '@warden/events';
import { createCsr, generateKeyPair } from '@warden/pki';

export type LoadKind = 'policy' | 'svid' | 'audit' | 'alert';

/** How long an alert may take from the detector's publish to a person's live subscription. */
const ALERT_DELIVERY_MS = 2_000;

/**
 * How long a submission may take to commit: `opa build` takes seconds on a loaded machine, and a
 * backlog behind it must not read as an outage (as the policy tests, 30 s).
 */
const POLICY_OUTCOME_MS = 30_000;
/**
 * Submissions in flight at once. A submission delivered to a replica that is then killed is
 * redelivered only after the consumer's ack wait; with one in flight that alone would stop the
 * load, and the pause measured would be the ack wait, not the outage.
 */
const POLICY_WORKERS = 3;

export type Acknowledged = {
  /** Submission id -> committed revision. */
  policies: Map<string, number>;
  /** SPIFFE ID -> serial of the SVID the CA answered with. */
  svids: Map<string, string>;
  /** Every join token with the SPIFFE ID it was made for, used or not. */
  tokens: Map<string, string>;
  /** Audit targets whose record JetStream acknowledged. */
  audit: Set<string>;
  /** Alerts a person's `warden.alert.>` subscription received, of those the detector published. */
  alerts: number;
  /** When each kind last succeeded, in order. */
  successes: Record<LoadKind, number[]>;
  failures: Record<LoadKind, number>;
};

export const chaosPolicy = (name: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: chaos
spec:
  action: ALLOW
  rules:
    - to:
        - operation:
            methods: ["GET"]
`;

export const chaosSpiffeId = (n: number, run: string): string =>
  `spiffe://cluster.local/ns/chaos/sa/w-${run}-${n}`;

/**
 * Runs until `signal` aborts. `user` submits policies, creates tokens and follows alerts live, as
 * people do; `agent` asks for SVIDs; `auditor` appends audit records (its bus has an audit
 * writer); `detector` publishes alerts.
 */
export async function runLoad(
  clients: { user: Bus; agent: Bus; auditor: Bus; detector: Bus },
  signal: AbortSignal,
): Promise<Acknowledged> {
  const acked: Acknowledged = {
    policies: new Map(),
    svids: new Map(),
    tokens: new Map(),
    audit: new Set(),
    alerts: 0,
    successes: { policy: [], svid: [], audit: [], alert: [] },
    failures: { policy: 0, svid: 0, audit: 0, alert: 0 },
  };
  const run = randomUUID().slice(0, 8);
  const outcomes = new Map<string, (revision: number | null) => void>();
  clients.user.subscribe(policyCommitted, (e) => outcomes.get(e.data.submissionId)?.(e.data.revision));
  clients.user.subscribe(policyRejected, (e) => outcomes.get(e.data.submissionId)?.(null));
  const delivered = new Map<string, () => void>();
  clients.user.subscribe(alert, (e) => delivered.get(e.data.alertId)?.());
  await clients.user.nc.flush();

  /** `workers` loops of one kind, sharing its sequence numbers. */
  const loop = async (kind: LoadKind, once: (n: number) => Promise<void>, workers = 1): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!signal.aborted) {
        try {
          await once(next++);
          acked.successes[kind].push(Date.now());
        } catch {
          acked.failures[kind]++;
          // No pause: how soon the system answers again is what is measured.
          await sleep(20);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  };

  const policy = async (n: number): Promise<void> => {
    const id = randomUUID();
    const outcome = new Promise<number | null>((resolve) => outcomes.set(id, resolve));
    try {
      await clients.user.publish(
        policySubmit,
        { kind: 'authorization-policy', text: chaosPolicy(`p-${run}-${n}`), dryRun: false },
        { id },
      );
      const revision = await Promise.race([
        outcome,
        sleep(POLICY_OUTCOME_MS, 'timeout' as const, { ref: false }),
      ]);
      if (revision === 'timeout') throw new Error(`no outcome for submission ${id}`);
      if (revision === null) throw new Error(`submission ${id} was rejected`);
      acked.policies.set(id, revision);
    } finally {
      outcomes.delete(id);
    }
  };

  const svid = async (n: number): Promise<void> => {
    const spiffeId = chaosSpiffeId(n, run);
    const { token } = await clients.user.request(caToken, { spiffeId, ttlSeconds: 600 }, { timeoutMs: 2000 });
    acked.tokens.set(token, spiffeId);
    const keys = await generateKeyPair();
    const reply = await clients.agent.request(
      caSign,
      { csrPem: await createCsr(keys, spiffeId), evidence: { type: 'join-token', token } },
      { timeoutMs: 2000 },
    );
    acked.svids.set(spiffeId, reply.serial);
  };

  const audit = async (n: number): Promise<void> => {
    const target = `chaos-${run}-${n}`;
    await clients.auditor.audit({
      kind: 'chaos',
      actor: 'chaos-load',
      action: 'chaos.probe',
      target,
      outcome: 'success',
    });
    acked.audit.add(target);
  };

  const liveAlert = async (n: number): Promise<void> => {
    const alertId = `chaos-${run}-${n}`;
    const arrived = new Promise<void>((resolve) => delivered.set(alertId, resolve));
    try {
      const target = { namespace: 'chaos', workload: 'probe' };
      await clients.detector.publish(
        alert,
        {
          alertId,
          status: 'firing',
          severity: 'info',
          rule: 'ChaosProbe',
          target,
          summary: 'the chaos test checks that people still receive alerts',
          labels: {},
          startsAt: new Date().toISOString(),
        },
        { qualifiers: { severity: 'info', ...target } },
      );
      const got = await Promise.race([
        arrived.then(() => true),
        sleep(ALERT_DELIVERY_MS, false, { ref: false }),
      ]);
      if (!got) throw new Error(`alert ${alertId} did not reach the subscription`);
      acked.alerts++;
      // One probe every 100 ms is enough to time an outage and leaves the stream small.
      await sleep(100);
    } finally {
      delivered.delete(alertId);
    }
  };

  await Promise.all([
    loop('policy', policy, POLICY_WORKERS),
    loop('svid', svid),
    loop('audit', audit),
    loop('alert', liveAlert),
  ]);
  return acked;
}

/**
 * The longest a kind went without a success around one kill: the largest gap between successes
 * from the last one before `from` (the kill) to the first one after `to` (the recovery). Null
 * when nothing succeeded after `to`: the kind never came back.
 */
export function longestPause(successes: readonly number[], from: number, to: number): number | null {
  let before: number | undefined;
  let longest = 0;
  for (const t of successes) {
    if (t >= from && before !== undefined) longest = Math.max(longest, t - before);
    before = t;
    if (t > to) return longest;
  }
  return null;
}
