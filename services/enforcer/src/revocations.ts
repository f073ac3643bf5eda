import type { Bus, DataOf, Envelope } from '@warden/events';
import { identityRevoked, isStreamNotFound, onReplay } from '@warden/events';
import { normaliseSerial } from '@warden/pki';

/**
 * Every revoked certificate serial the CA has announced. The live subscription starts before the
 * replay of `WARDEN_IDENTITY`, so nothing announced in between is missed (adding a serial twice
 * is harmless). Serials are few next to issuances and are kept for the process's life.
 */
export class Revocations {
  private readonly serials = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private changes = 0;

  /** Subscribes, then replays every revocation stored so far. */
  async load(bus: Bus): Promise<{ replayed: number }> {
    const add = (event: Envelope<DataOf<typeof identityRevoked>>): void => {
      for (const serial of event.data.serials) this.serials.add(normaliseSerial(serial));
      this.changes++;
    };
    const sub = bus.subscribe(identityRevoked, add);
    this.unsubscribe = () => sub.unsubscribe();
    await bus.nc.flush();
    try {
      const result = await bus.replay([onReplay(identityRevoked, add)]);
      return { replayed: result.applied };
    } catch (err) {
      // No identity stream yet: the CA has not started, so nothing has been revoked.
      if (isStreamNotFound(err)) return { replayed: 0 };
      throw err;
    }
  }

  isRevoked(serial: string): boolean {
    return this.serials.has(normaliseSerial(serial));
  }

  /** Grows with every revocation event seen, so a reader can tell whether to resync. */
  get version(): number {
    return this.changes;
  }

  /** Every revoked serial, normalised. */
  all(): ReadonlySet<string> {
    return this.serials;
  }

  get size(): number {
    return this.serials.size;
  }

  stop(): void {
    this.unsubscribe?.();
  }
}
