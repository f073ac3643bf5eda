import type { RunningConsumer } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { CaMetrics } from './metrics.ts';

/**
 * What the holder of the CA lease does that no other replica may: sign the CRLs, publish the
 * trust bundle, and consume revocation requests (so that the replica that revokes is the one
 * that signs the CRL listing it). Every replica signs SVIDs and serves the CRLs. Changes are
 * applied one at a time in the order the lease reports them.
 */
export class Leadership {
  private readonly options: {
    log: Logger;
    metrics: CaMetrics;
    issuer: { reissue(): Promise<void> };
    generations: { check(): Promise<void> };
    revocations: () => Promise<RunningConsumer>;
  };
  private chain: Promise<void> = Promise.resolve();
  private consumer: RunningConsumer | undefined;

  constructor(options: Leadership['options']) {
    this.options = options;
  }

  change(held: boolean): Promise<void> {
    this.chain = this.chain
      .then(() => (held ? this.take() : this.give()))
      .catch((err: unknown) => {
        this.options.log.error({ err, held }, 'CA lease change not applied');
      });
    return this.chain;
  }

  /** Resolves once every change reported so far is applied. */
  idle(): Promise<void> {
    return this.chain;
  }

  private async take(): Promise<void> {
    const { metrics, issuer, generations, revocations } = this.options;
    metrics.leaseHeld.set(1);
    metrics.leaseChanges.inc({ change: 'taken' });
    // Signed at once: revocations the previous holder marked but did not sign are covered.
    await issuer.reissue();
    this.consumer ??= await revocations();
    await generations.check();
  }

  private async give(): Promise<void> {
    const { metrics } = this.options;
    metrics.leaseHeld.set(0);
    metrics.leaseChanges.inc({ change: 'lost' });
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
  }
}
