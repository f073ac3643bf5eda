import type { Bus } from '@warden/events';
import { identityIssued, identityRevoked, onReplay } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { IssuedIndex } from './issued-index.ts';

/**
 * Rebuilds the issued index from WARDEN_IDENTITY: every `identity.issued` and `identity.revoked`
 * event from the start of the stream, in order (`Bus.replay`, which validates each against its
 * schema and skips, logs and counts an invalid one), then sets the completeness marker with the
 * stream sequence the index now holds everything up to. Applying an event is idempotent and a
 * revocation is never undone, so a rebuild racing with live issuance leaves the index right.
 */
export async function rebuildIndex(bus: Bus, index: IssuedIndex, log: Logger): Promise<number> {
  const replayed = await bus.replay([
    onReplay(identityIssued, (event) => index.recordIssued(event.data)),
    onReplay(identityRevoked, (event) =>
      index.markRevoked(event.data.serials, event.data.reason, event.time),
    ),
  ]);
  await index.markComplete(replayed.lastSeq);
  const tally = {
    events: replayed.applied,
    invalid: replayed.invalid,
    lastSeq: replayed.lastSeq,
    ms: replayed.ms,
  };
  // An empty stream is a first start; events to restore mean Redis lost them, which is worth a warning.
  if (replayed.lastSeq === 0) log.info(tally, 'issued index started on an empty identity stream');
  else log.warn(tally, 'issued index was missing from redis; rebuilt it from the identity stream');
  return replayed.applied;
}

/**
 * Keeps the issued index whole: `ensure` rebuilds it when the completeness marker is gone (a first
 * start, Redis flushed or replaced), at start and on every check while running. Concurrent calls
 * share one rebuild.
 */
export class IndexKeeper {
  private readonly bus: Bus;
  private readonly index: IssuedIndex;
  private readonly log: Logger;
  private rebuilding: Promise<unknown> | undefined;

  constructor(options: { bus: Bus; index: IssuedIndex; log: Logger }) {
    this.bus = options.bus;
    this.index = options.index;
    this.log = options.log;
  }

  async ensure(): Promise<void> {
    if (this.rebuilding) return void (await this.rebuilding);
    if (await this.index.isComplete()) return;
    this.log.info('issued index not in redis; building it from the identity stream');
    this.rebuilding = rebuildIndex(this.bus, this.index, this.log).finally(() => {
      this.rebuilding = undefined;
    });
    await this.rebuilding;
  }

  /** Resolves once a rebuild under way has ended, however it ended. */
  async idle(): Promise<void> {
    await this.rebuilding?.catch(() => undefined);
  }
}
