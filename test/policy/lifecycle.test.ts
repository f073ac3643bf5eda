import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InvalidPayloadError,
  policyRejected,
  policyStatus,
  policySubmit,
  provision,
  StreamName,
  subjectOf,
} from '@warden/events';
import type { Bus, DataOf } from '@warden/events';
import { seedFile } from '@warden/infra';
import { publishMalformed, useNats } from '@warden/testing';
import { startPolicy, startPolicyWithSubmitter } from './helpers.ts';

const allowGet = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-get
  namespace: shop
spec:
  action: ALLOW
  rules:
    - to:
        - operation:
            methods: ["GET"]
`;

const denyAdmin = `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: shop
spec:
  action: DENY
  rules:
    - to:
        - operation:
            paths: ["/admin/*"]
`;

const request = (method: string, path: string) => ({
  destination: { namespace: 'shop', labels: { app: 'cart' } },
  source: { principal: 'spiffe://cluster.local/ns/web/sa/frontend', ip: '10.0.0.1' },
  http: { method, path },
});

describe('policy service: lifecycle, rejection, rollout and rollback', () => {
  const nats = useNats();
  const children: ChildProcessWithoutNullStreams[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  const start = () => startPolicyWithSubmitter(nats.get());

  it('commits AuthorizationPolicy YAML as increasing revisions and reports status', async () => {
    const { service, submit, user } = await start();
    try {
      const first = await submit({ kind: 'authorization-policy', text: allowGet, file: 'allow-get.yaml' });
      assert.equal(first.type, 'committed');
      assert.equal(first.type === 'committed' && first.event.data.revision, 1);
      assert.deepEqual(first.type === 'committed' && first.event.data.keys, [
        'authorization-policy.shop.allow-get',
      ]);

      const second = await submit({ kind: 'authorization-policy', text: `${allowGet}---\n${denyAdmin}` });
      assert.equal(second.type === 'committed' && second.event.data.revision, 2);
      // Only the new policy changed; the unchanged one keeps its revision.
      assert.deepEqual(second.type === 'committed' && second.event.data.keys, [
        'authorization-policy.shop.deny-admin',
      ]);

      const status = await user.request(policyStatus, { history: true, policies: true });
      assert.equal(status.revision, 2);
      assert.deepEqual(
        status.policies?.map((p) => [p.key, p.revision]),
        [
          ['authorization-policy.shop.allow-get', 1],
          ['authorization-policy.shop.deny-admin', 2],
        ],
      );
      assert.deepEqual(
        status.history?.map((h) => h.revision),
        [2, 1],
      );
    } finally {
      await service.stop('test');
    }
  });

  it('keeps revision numbers contiguous and loses no change with two replicas taking submissions at once', async () => {
    const { service, submit, user } = await start();
    const second = await startPolicy(nats.get());
    try {
      const policy = (i: number) => allowGet.replace('name: allow-get', `name: allow-${i}`);
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) => submit({ kind: 'authorization-policy', text: policy(i) })),
      );
      const revisions = outcomes.map((o) => (o.type === 'committed' ? o.event.data.revision : -1));
      assert.deepEqual(
        [...revisions].sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      const status = await user.request(policyStatus, { policies: true });
      assert.equal(status.revision, 12);
      assert.deepEqual(
        status.policies?.map((p) => p.key).sort(),
        Array.from({ length: 12 }, (_, i) => `authorization-policy.shop.allow-${i}`).sort(),
        'the last revision holds every submitted policy',
      );
    } finally {
      await second.stop('test');
      await service.stop('test');
    }
  });

  it('rejects bad input with positions and reasons, keeping the previous revision active', async () => {
    const { service, submit, user } = await start();
    try {
      assert.equal((await submit({ kind: 'authorization-policy', text: allowGet })).type, 'committed');

      const badIndent = allowGet.replace('  action: ALLOW', ' action: ALLOW');
      const unknownField = allowGet.replace('  action: ALLOW', '  action: ALLOW\n  colour: red');
      const badAction = allowGet.replace('action: ALLOW', 'action: PERMIT');
      const unsafeRego = 'package demo\n\nallow if {\n  input.user == x\n}\n';
      const cases: [string, DataOf<typeof policySubmit>, RegExp, number][] = [
        [
          'bad indentation',
          { kind: 'authorization-policy', text: badIndent, file: 'p.yaml' },
          /yaml_syntax/,
          7,
        ],
        ['unknown field', { kind: 'authorization-policy', text: unknownField, file: 'p.yaml' }, /colour/, 8],
        [
          'unknown action',
          { kind: 'authorization-policy', text: badAction, file: 'p.yaml' },
          /PERMIT|action/,
          7,
        ],
        [
          'unsafe Rego variable',
          { kind: 'rego', text: unsafeRego, file: 'demo.rego', entrypoint: 'demo/allow' },
          /unsafe|var x/,
          4,
        ],
      ];
      for (const [what, data, reason, line] of cases) {
        const outcome = await submit(data);
        assert.equal(outcome.type, 'rejected', what);
        if (outcome.type !== 'rejected') continue;
        const first = outcome.event.data.reasons[0];
        assert.ok(first, what);
        assert.match(outcome.event.data.reasons.map((r) => r.message).join('\n'), reason, what);
        assert.equal(first.line, line, `${what}: ${JSON.stringify(outcome.event.data.reasons)}`);
        assert.ok(first.column && first.column >= 1, what);
        assert.ok(first.file, what);
      }
      // Rego data nested past the limit is refused before anything serialises it recursively,
      // and the refusal uses no revision number: the next commit is revision 2.
      let deep: unknown = 'leaf';
      for (let i = 0; i < 2000; i++) deep = { d: deep };
      const tooDeep = await submit({
        kind: 'rego',
        text: 'package deep\nimport rego.v1\nallow if data.d\n',
        file: 'deep.rego',
        entrypoint: 'deep/allow',
        data: { d: deep },
      });
      assert.equal(tooDeep.type, 'rejected');
      assert.match(
        (tooDeep.type === 'rejected' && tooDeep.event.data.reasons[0]?.message) || '',
        /^data_too_deep: data nests objects and arrays deeper than 64 levels \(at data\)$/,
      );
      const next = await submit({ kind: 'authorization-policy', text: denyAdmin });
      assert.equal(next.type === 'committed' && next.event.data.revision, 2);
      // A 10 MB policy cannot even be submitted: the bus refuses it, naming the limit.
      await assert.rejects(
        user.publish(policySubmit, {
          kind: 'authorization-policy',
          text: `${allowGet}#${'x'.repeat(10 * 1024 * 1024)}`,
        }),
        (err: unknown) =>
          err instanceof InvalidPayloadError &&
          /text: must NOT have more than 524288 characters/.test(err.message),
      );
      assert.equal((await user.request(policyStatus, {})).revision, 2);
    } finally {
      await service.stop('test');
    }
  });

  it('answers a submission it cannot read with a rejected event, and keeps serving', async () => {
    const { service, submit, user } = await start();
    try {
      const rejected = new Map<string, string>();
      user.subscribe(policyRejected, (event) => {
        rejected.set(event.data.submissionId, event.data.reasons.map((r) => r.message).join('\n'));
      });
      await user.nc.flush();
      // A raw publisher, bypassing the Bus's own validation: text that is not JSON, an envelope
      // failing the schema (id `malformed-1`), and one whose id is no use to answer under.
      const subject = subjectOf(policySubmit, {});
      await publishMalformed(user.nc, subject);
      const envelope = { time: new Date().toISOString(), source: 'raw', schema: policySubmit.schema };
      user.nc.publish(subject, JSON.stringify({ ...envelope, id: 'x'.repeat(500), data: 5 }));
      await user.nc.flush();
      for (let i = 0; i < 100 && rejected.size < 3; i++) await sleep(100);
      assert.match(rejected.get('malformed-1') ?? '', /^invalid_submission: schema: .*kind/);
      const bySeq = [...rejected].filter(([id]) => id.startsWith('seq-'));
      assert.equal(bySeq.length, 2, JSON.stringify([...rejected]));
      assert.ok(bySeq.some(([, m]) => m.startsWith('invalid_submission: not_json')));
      const next = await submit({ kind: 'authorization-policy', text: allowGet });
      assert.equal(next.type === 'committed' && next.event.data.revision, 1);
    } finally {
      await service.stop('test');
    }
  });

  it('rolls out to two decision-point processes, which both report applied, and rolls back', async () => {
    const { service, submit, user } = await start();
    const points = await Promise.all(
      ['dp-a', 'dp-b'].map((name) =>
        decisionPoint(nats.get().url, seedFile(nats.get().credsDir, 'enforcer'), name, children),
      ),
    );
    try {
      const r1 = await submit({ kind: 'authorization-policy', text: allowGet });
      assert.equal(r1.type, 'committed');
      await waitForRollout(user, 1, ['dp-a', 'dp-b']);
      for (const dp of points) {
        assert.equal((await dp.decide(request('GET', '/admin/users'))).allowed, true);
        assert.equal((await dp.decide(request('POST', '/cart'))).allowed, false);
      }

      const r2 = await submit({ kind: 'authorization-policy', text: denyAdmin });
      assert.equal(r2.type === 'committed' && r2.event.data.revision, 2);
      await waitForRollout(user, 2, ['dp-a', 'dp-b']);
      for (const dp of points) {
        const decision = await dp.decide(request('GET', '/admin/users'));
        assert.equal(decision.allowed, false);
        assert.equal(decision.policy, 'ns[shop]-policy[deny-admin]-rule[0]');
      }

      const back = await submit({ kind: 'rollback', revision: 1 });
      assert.equal(back.type === 'committed' && back.event.data.revision, 3);
      await waitForRollout(user, 3, ['dp-a', 'dp-b']);
      for (const dp of points) assert.equal((await dp.decide(request('GET', '/admin/users'))).allowed, true);

      // A dry run that would deny every GET: evaluated beside, reported, never enforced.
      const admin = await nats.get().connect('admin');
      // A difference is an audit record: it exists once stored in its writer's chain.
      await provision(admin, { streams: [StreamName.audit] });
      const differences: string[] = [];
      admin.subscribe('warden.audit.v1.record.enforcer.*', {
        callback: (_err, msg) => {
          if (msg.json<{ data: { kind: string } }>().data.kind === 'policy-dry-run')
            differences.push(msg.string());
        },
      });
      await admin.flush();
      const denyGet = allowGet
        .replace('name: allow-get', 'name: deny-get')
        .replace('action: ALLOW', 'action: DENY');
      const trial = await submit({ kind: 'authorization-policy', text: denyGet, dryRun: true });
      assert.equal(trial.type === 'committed' && trial.event.data.dryRun, true);
      const trialRevision = trial.type === 'committed' ? trial.event.data.revision : 0;
      for (const dp of points) {
        let decision = await dp.decide(request('GET', '/cart'));
        const deadline = Date.now() + 10_000;
        while (decision.dryRun < trialRevision && Date.now() < deadline) {
          await sleep(50);
          decision = await dp.decide(request('GET', '/cart'));
        }
        assert.equal(decision.allowed, true, 'the dry run is never enforced');
        assert.equal(decision.applied, 3);
      }
      const until = Date.now() + 5000;
      while (differences.length < 2 && Date.now() < until) await sleep(20);
      assert.ok(differences.length >= 2, `differences reported: ${differences.length}`);
      const reported = JSON.parse(differences[0] ?? '{}') as {
        data: { details: { dryRun: { allowed: boolean } } };
      };
      assert.equal(reported.data.details.dryRun.allowed, false);

      const missing = await submit({ kind: 'rollback', revision: 42 });
      assert.equal(missing.type, 'rejected');
      const status = await user.request(policyStatus, { history: true });
      assert.equal(status.revision, 3);
      assert.equal(status.dryRunRevision, trialRevision);
      assert.equal(status.history?.find((h) => h.revision === 3)?.rollbackOf, 1);
    } finally {
      await service.stop('test');
    }
  });
});

type Decided = { allowed: boolean; policy: string | null; applied: number; dryRun: number };
type DecisionPoint = {
  decide(req: unknown): Promise<Decided>;
};

async function decisionPoint(
  url: string,
  seed: string,
  name: string,
  children: ChildProcessWithoutNullStreams[],
): Promise<DecisionPoint> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'decision-point.ts'), url, seed, name]);
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  assert.deepEqual(JSON.parse(String(first.value)), { ready: true });
  return {
    decide: async (req) => {
      child.stdin.write(`${JSON.stringify(req)}\n`);
      const line = await lines.next();
      return JSON.parse(String(line.value)) as Decided;
    },
  };
}

async function waitForRollout(user: Bus, revision: number, points: readonly string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await user.request(policyStatus, {});
    const done = points.every((p) =>
      status.rollout.some((r) => r.decisionPoint === p && r.revision >= revision),
    );
    if (done) return;
    if (Date.now() > deadline)
      throw new Error(`rollout of ${revision} incomplete: ${JSON.stringify(status.rollout)}`);
    await sleep(50);
  }
}
