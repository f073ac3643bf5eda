import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, policyCommitted, policyRejected, policySubmit } from '@warden/events';
import type { DataOf, Envelope } from '@warden/events';
import { binary, seedFile } from '@warden/infra';
import { policyService } from '@warden/policy';
import { runService } from '@warden/runtime';
import type { RunningService } from '@warden/runtime';
import type { TestNats } from '@warden/testing';

/** The real policy service, in-process, with its own NATS credentials and the installed OPA. */
export const startPolicy = (nats: TestNats): Promise<RunningService> =>
  runService(policyService, {
    WARDEN_NATS_URL: nats.url,
    WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'policy'),
    WARDEN_LOG_LEVEL: 'silent',
    WARDEN_OPA_PATH: binary('opa'),
  });

/** How the policy service answered one submission. */
export type Outcome =
  | { type: 'committed'; event: Envelope<DataOf<typeof policyCommitted>> }
  | { type: 'rejected'; event: Envelope<DataOf<typeof policyRejected>> };

/**
 * The policy service, and `submit` as a person (`user`) would: publishes one submission and
 * resolves with the committed or rejected event that answers it (30 s at most).
 */
export async function startPolicyWithSubmitter(nats: TestNats): Promise<{
  service: RunningService;
  submit: (data: DataOf<typeof policySubmit>) => Promise<Outcome>;
  user: Bus;
}> {
  const service = await startPolicy(nats);
  const user = new Bus(await nats.connect('user'), { source: 'test-user' });
  const outcomes = new Map<string, (o: Outcome) => void>();
  user.subscribe(policyCommitted, (event) =>
    outcomes.get(event.data.submissionId)?.({ type: 'committed', event }),
  );
  user.subscribe(policyRejected, (event) =>
    outcomes.get(event.data.submissionId)?.({ type: 'rejected', event }),
  );
  await user.nc.flush();
  const submit = async (data: DataOf<typeof policySubmit>): Promise<Outcome> => {
    const id = randomUUID();
    const outcome = new Promise<Outcome>((resolve) => outcomes.set(id, resolve));
    await user.publish(policySubmit, data, { id });
    return Promise.race([
      outcome,
      sleep(30_000, undefined, { ref: false }).then(() => {
        throw new Error(`no outcome for submission ${id}`);
      }),
    ]);
  };
  return { service, submit, user };
}
