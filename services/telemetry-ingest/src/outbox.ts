/**
 * Publishes with many acks in flight: JetStream stores a few thousand messages a second when each
 * publish waits for the previous ack, and tens of thousands with a few hundred in flight. The
 * queue is bounded by weight (records or feature windows); what does not fit is refused, and
 * the caller counts it.
 */
export class Outbox {
  private readonly queue: { weight: number; run: () => Promise<void> }[] = [];
  private queuedWeight = 0;
  private inflight = 0;
  private idle: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly capacity: number;

  constructor(options: { concurrency: number; capacity: number }) {
    this.concurrency = options.concurrency;
    this.capacity = options.capacity;
  }

  /** Weight queued or in flight. */
  get pending(): number {
    return this.queuedWeight;
  }

  /** Queues a publish; false when it does not fit. `run` must not throw (it counts its own failure). */
  offer(weight: number, run: () => Promise<void>): boolean {
    if (this.queuedWeight + weight > this.capacity) return false;
    this.queuedWeight += weight;
    this.queue.push({ weight, run });
    this.pump();
    return true;
  }

  /** Resolves once everything queued so far has been published (or has failed). */
  drained(): Promise<void> {
    if (this.queuedWeight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.inflight < this.concurrency) {
      const job = this.queue.shift();
      if (!job) break;
      this.inflight++;
      void job.run().finally(() => {
        this.inflight--;
        this.queuedWeight -= job.weight;
        if (this.queuedWeight === 0) {
          const waiting = this.idle;
          this.idle = [];
          for (const resolve of waiting) resolve();
        }
        this.pump();
      });
    }
  }
}
