import type { Bus, RunningConsumer } from '@warden/events';
import { alert, enforceDeny, enforceQuarantine } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { Playbook } from './playbooks.ts';
import { plan } from './playbooks.ts';

export const PLAYBOOKS_DURABLE = 'enforcer-playbooks';

/**
 * Alerts through the playbooks: a matching firing alert publishes the containment its playbook
 * names (applied by the containment consumer like a person's), or, in dry run, only an audit
 * event saying what it would have done. The published event's id derives from the alert's, so
 * a redelivered alert is stored once.
 */
export async function runPlaybooks(deps: {
  bus: Bus;
  log: Logger;
  playbooks: readonly Playbook[];
}): Promise<RunningConsumer> {
  const { bus, log, playbooks } = deps;
  return bus.consume(
    alert,
    async (event) => {
      for (const action of plan(playbooks, event)) {
        const details = {
          playbook: action.playbook,
          alertId: event.data.alertId,
          [action.event]: action.data,
        };
        if (action.dryRun) {
          await bus.audit({
            kind: 'containment',
            actor: 'enforcer',
            action: 'playbook.dry-run',
            target: action.playbook,
            outcome: 'success',
            details,
          });
          continue;
        }
        const id = `${event.id}:${action.playbook}`;
        if (action.event === 'quarantine') await bus.publish(enforceQuarantine, action.data, { id });
        else await bus.publish(enforceDeny, action.data, { id });
        log.info(
          { playbook: action.playbook, alertId: event.data.alertId, action: action.event },
          'playbook fired',
        );
      }
    },
    { durable: PLAYBOOKS_DURABLE, deliver: 'new' },
  );
}
