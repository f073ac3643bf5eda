import type { Logger } from '@warden/runtime';
import { nextExpiry } from './containment-rbac.ts';
import type { ContainmentStore } from './containment-store.ts';
import type { Revocations } from './revocations.ts';
import type { Terminators } from './terminators.ts';

/** How often the agent's certificate files are compared with what the terminators serve. */
const CERTIFICATE_CHECK_MS = 1000;

/**
 * Keeps the terminators in step: at once (within one debounce window) when containment or the
 * revocations change or a rule expires, and every second for rotated certificates.
 */
export function followTerminators(options: {
  terminators: Terminators;
  containment: ContainmentStore;
  revocations: Revocations;
  debounceMs: number;
  log: Logger;
}): { stop(): void } {
  const { terminators, containment, revocations, log } = options;
  let last = '';
  let lastFull = Date.now();
  let expiresAt: number | undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const now = new Date();
    const key = `${containment.version}.${revocations.version}`;
    const expired = expiresAt !== undefined && now.getTime() >= expiresAt;
    if (key === last && !expired && now.getTime() - lastFull < CERTIFICATE_CHECK_MS) return;
    busy = true;
    const rules = containment.active(now);
    last = key;
    lastFull = now.getTime();
    expiresAt = nextExpiry(rules, now);
    terminators
      .sync(rules, revocations.all())
      .catch((err: unknown) => log.error({ err }, 'terminators not synchronised'))
      .finally(() => {
        busy = false;
      });
  }, options.debounceMs);
  return { stop: () => clearInterval(timer) };
}
