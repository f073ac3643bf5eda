import type { Bus, DataOf } from '@warden/events';
import { audit } from '@warden/events';
import type { Logger } from '@warden/runtime';

export type AuditRecord = Omit<DataOf<typeof audit>, 'actor' | 'details'> & {
  details?: Record<string, unknown>;
};

/** Writes one audit event; never awaited by what it records. */
export type Audit = (record: AuditRecord) => void;

/**
 * The agent's audit trail (`warden.audit.v1.identity`): what happened to identities on this host.
 * Best effort by design: an audit log that is down must not stop an SVID from being served or a
 * revoked one from being dropped, so a failed write is logged and nothing waits for it.
 */
export function auditTo(bus: Bus, actor: string, log: Logger): Audit {
  return (record) => {
    bus
      .publish(audit, { actor, details: {}, ...record }, { qualifiers: { kind: 'identity' } })
      .catch((err: unknown) => log.warn({ err, action: record.action }, 'could not write an audit event'));
  };
}
