import type { AuditEntryInput, Bus } from '@warden/events';
import type { Logger } from '@warden/runtime';

export type AuditRecord = Omit<AuditEntryInput, 'kind' | 'actor' | 'details'> & {
  details?: Record<string, unknown>;
};

/** Writes one audit event; never awaited by what it records. */
export type Audit = (record: AuditRecord) => void;

/**
 * The agent's audit trail (records of kind `identity` in its chain): what happened to identities on this host.
 * Best effort by design: an audit log that is down must not stop an SVID from being served or a
 * revoked one from being dropped, so a failed write is logged and nothing waits for it.
 */
export function auditTo(bus: Bus, actor: string, log: Logger): Audit {
  return (record) => {
    bus
      .audit({ kind: 'identity', actor, details: {}, ...record })
      .catch((err: unknown) => log.warn({ err, action: record.action }, 'could not write an audit event'));
  };
}
