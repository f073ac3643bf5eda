import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { BusLogger } from './bus.ts';
import type { BucketName } from './define.ts';
import { isWrongLastSequence } from './nats-errors.ts';

export type LeaseOptions = {
  /** A bucket whose max age is `ttlMs`: an unrenewed lease disappears with its last write. */
  bucket: BucketName;
  key: string;
  /** This replica's name (WARDEN_INSTANCE): unique among live replicas, stable across restarts. */
  holder: string;
  ttlMs: number;
  log: BusLogger;
  /** Told when this replica starts or stops holding the lease; `fence` is the acquiring revision. */
  onChange?: (held: boolean, fence: number) => void | Promise<void>;
};

/**
 * The part of a holder's term it acts in. Its lease outlives its last successful renewal by the
 * whole TTL on the server's clock, measured from a write made after the renewal was sent; the
 * holder stops acting a fifth of the TTL earlier on its own clock, so two holders never overlap
 * unless the clocks' rates differ by that much.
 */
const SAFE_FRACTION = 0.8;

/**
 * Who does a singleton's work among a service's replicas: a key in a JetStream KV bucket whose
 * max age is the lease's TTL. A replica takes the lease with `create` (which only succeeds when
 * the key is absent or expired), renews it with compare-and-set `update` every fifth of the TTL,
 * and gives it up on stop by deleting it, so a standby takes over within one renewal interval
 * after a clean stop and within the TTL plus one interval after a crash. The revision of the
 * acquiring write is the fencing token: it grows with every holder, so a deposed holder's writes
 * can be told from the new one's. A replica restarted under the same name takes its own lease
 * back at once instead of waiting out the TTL.
 */
export class Lease {
  private readonly options: LeaseOptions;
  private readonly kv: KV;
  private revision = 0;
  private fenceValue = 0;
  /** Local time before which this replica may act as the holder; 0 when it does not hold. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  private constructor(kv: KV, options: LeaseOptions) {
    this.kv = kv;
    this.options = options;
  }

  /** Opens the bucket; nothing is tried before `start`. */
  static async open(nc: NatsConnection, options: LeaseOptions): Promise<Lease> {
    return new Lease(await new Kvm(nc).open(options.bucket), options);
  }

  /** Makes a first attempt (and tells `onChange` of its outcome) before returning, then keeps at it. */
  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  /** Whether this replica holds the lease now and may do the singleton's work. */
  get held(): boolean {
    return Date.now() < this.validUntil;
  }

  /** The fencing token of the current term; 0 when not held. */
  get fence(): number {
    return this.held ? this.fenceValue : 0;
  }

  /** Stops renewing and releases the lease, so a standby need not wait out the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.validUntil === 0) return;
    await this.lose();
    await this.kv.delete(this.options.key, { previousSeq: this.revision }).catch((err: unknown) => {
      this.options.log.warn({ err, key: this.options.key }, 'lease not released; it expires by itself');
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        void this.tick().finally(() => this.schedule());
      },
      Math.max(50, Math.floor(this.options.ttlMs / 5)),
    );
  }

  private tick(): Promise<void> {
    this.running = (this.validUntil > 0 ? this.renew() : this.acquire()).catch((err: unknown) => {
      this.options.log.warn({ err, key: this.options.key }, 'lease check failed');
    });
    return this.running;
  }

  private async acquire(): Promise<void> {
    const sentAt = Date.now();
    const { key, holder } = this.options;
    let revision: number;
    try {
      revision = await this.kv.create(key, holder);
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
      const entry = await this.kv.get(key);
      // A live entry under this replica's own name is the lease it held before a restart.
      if (!entry || entry.operation !== 'PUT' || entry.string() !== holder) return;
      revision = await this.kv.update(key, holder, entry.revision);
    }
    if (this.stopped) {
      await this.kv.delete(key, { previousSeq: revision }).catch(() => undefined);
      return;
    }
    this.revision = revision;
    this.fenceValue = revision;
    this.validUntil = sentAt + this.options.ttlMs * SAFE_FRACTION;
    this.options.log.info({ key, holder, fence: revision }, 'lease acquired');
    await this.options.onChange?.(true, revision);
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      this.revision = await this.kv.update(this.options.key, this.options.holder, this.revision);
      this.validUntil = sentAt + this.options.ttlMs * SAFE_FRACTION;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        this.options.log.warn({ key: this.options.key }, 'lease taken by another replica');
        await this.lose();
      } else if (!this.held) {
        this.options.log.warn({ err, key: this.options.key }, 'lease could not be renewed in time');
        await this.lose();
      } else throw err;
    }
  }

  private async lose(): Promise<void> {
    const fence = this.fenceValue;
    this.validUntil = 0;
    this.fenceValue = 0;
    await this.options.onChange?.(false, fence);
  }
}
