import type { Bus, RunningConsumer } from '@warden/events';
import { enforceDeny, enforceQuarantine, enforceRelease } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { ContainmentRule } from './containment.ts';
import { ContainmentError, ruleFromDeny, ruleFromQuarantine } from './containment.ts';
import type { ContainmentStore } from './containment-store.ts';

/** The durables every enforcer replica shares: each containment event is applied once. */
export const containmentDurables = {
  deny: 'enforcer-containment-deny',
  quarantine: 'enforcer-containment-quarantine',
  release: 'enforcer-containment-release',
} as const;

/**
 * Turns `warden.enforce.v1.deny`, `.quarantine` and `.release` (from people, the console and the
 * enforcer's own playbooks) into rules in the shared bucket, auditing each change with its cause.
 * A rule that cannot be taken (a deny naming neither side) is refused, audited and changes nothing.
 */
export async function consumeContainment(deps: {
  bus: Bus;
  store: ContainmentStore;
  log: Logger;
}): Promise<RunningConsumer[]> {
  const { bus, store, log } = deps;
  const record = async (
    action: string,
    target: string,
    outcome: 'success' | 'failure',
    details: Record<string, unknown>,
    actor: string,
  ): Promise<void> => {
    await bus
      .audit({ kind: 'containment', actor, action, target, outcome, details })
      .catch((err: unknown) => log.warn({ err, action }, 'could not audit a containment change'));
  };
  const add = async (rule: ContainmentRule): Promise<void> => {
    await store.put(rule);
    log.info({ rule: rule.id, kind: rule.kind, expiresAt: rule.expiresAt }, 'containment rule in force');
    await record(
      `containment.${rule.kind}.add`,
      rule.id,
      'success',
      { expiresAt: rule.expiresAt, reason: rule.reason, cause: rule.cause },
      rule.cause.actor,
    );
  };
  const refuse = async (action: string, actor: string, eventId: string, err: unknown): Promise<void> => {
    if (!(err instanceof ContainmentError)) throw err;
    log.warn({ eventId, reason: err.message }, 'refused a containment rule');
    await record(action, eventId, 'failure', { reason: err.message }, actor);
  };
  return [
    await bus.consume(
      enforceDeny,
      async (event) => {
        try {
          await add(ruleFromDeny(event));
        } catch (err) {
          await refuse('containment.deny.add', event.source, event.id, err);
        }
      },
      { durable: containmentDurables.deny, deliver: 'all' },
    ),
    await bus.consume(enforceQuarantine, (event) => add(ruleFromQuarantine(event)), {
      durable: containmentDurables.quarantine,
      deliver: 'all',
    }),
    await bus.consume(
      enforceRelease,
      async (event) => {
        const released = await store.release(event.data.ruleId);
        await record(
          'containment.release',
          event.data.ruleId,
          released ? 'success' : 'failure',
          { reason: released ? event.data.reason : 'no such rule in force' },
          event.source,
        );
      },
      { durable: containmentDurables.release, deliver: 'all' },
    ),
  ];
}
