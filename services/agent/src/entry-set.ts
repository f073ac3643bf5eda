import { unwatchFile, watchFile } from 'node:fs';
import { messageOf } from '@warden/core';
import type { DataOf, Envelope } from '@warden/events';
import type { identityEntry } from '@warden/events';
import type { Logger } from '@warden/runtime';
import type { Entry, EntryDefaults } from './entries.ts';
import { entryFromEvent, MAX_ENTRIES, parseEntriesFile } from './entries.ts';
import { EntriesFileError, InvalidEntryError } from './errors.ts';
import { readSmallFile } from './files.ts';
import type { Store } from './store.ts';

export type EntrySetOptions = {
  /** WARDEN_AGENT_ENTRIES_FILE; unset: entries come from events only. */
  readonly file: string | undefined;
  readonly maxBytes: number;
  /** How often the file is checked for changes; 0: read once. */
  readonly pollMs: number;
  readonly defaults: EntryDefaults;
  readonly store: Store;
  readonly log: Logger;
};

/** Reads and validates the entries file; an invalid one is refused with every position. */
async function loadEntriesFile(file: string, maxBytes: number, defaults: EntryDefaults): Promise<Entry[]> {
  let text: string | null;
  try {
    text = await readSmallFile(file, maxBytes);
  } catch (err) {
    throw new EntriesFileError(file, [{ path: '', message: messageOf(err) }]);
  }
  if (text === null) throw new EntriesFileError(file, [{ path: '', message: 'the file does not exist' }]);
  return parseEntriesFile(text, file, defaults);
}

/**
 * The registration entries of this host: those of the entries file and those that arrived as
 * `warden.identity.v1.entry` events (kept in the store: the durable consumer does not deliver
 * them again after a restart). The file wins over an event for the same SPIFFE ID, and an event
 * may not take a name another entry uses.
 */
export class EntrySet {
  private readonly options: EntrySetOptions;
  private fileEntries: Entry[];
  private readonly eventEntries = new Map<string, Entry>();
  private listener: (() => void) | undefined;
  private stopped = false;

  private constructor(options: EntrySetOptions, fileEntries: Entry[], eventEntries: Entry[]) {
    this.options = options;
    this.fileEntries = fileEntries;
    for (const entry of eventEntries) this.eventEntries.set(entry.spiffeId, entry);
  }

  /** Reads the entries file (an invalid one stops the agent: `EntriesFileError`) and the stored event entries. */
  static async load(options: EntrySetOptions): Promise<EntrySet> {
    const fileEntries = options.file
      ? await loadEntriesFile(options.file, options.maxBytes, options.defaults)
      : [];
    const eventEntries = await options.store.loadEventEntries().catch((err: unknown) => {
      options.log.error({ err }, 'stored event entries unreadable; waiting for new entry events');
      return [];
    });
    return new EntrySet(options, fileEntries, eventEntries);
  }

  /** File entries, then event entries, by SPIFFE ID. */
  desired(): Map<string, Entry> {
    const all = new Map<string, Entry>();
    for (const e of this.fileEntries) all.set(e.spiffeId, e);
    for (const e of this.eventEntries.values()) if (!all.has(e.spiffeId)) all.set(e.spiffeId, e);
    return all;
  }

  /**
   * Applies an entry event for this host and stores the event entries; false when nothing changed.
   * An unusable entry is logged and ignored: redelivering it would never make it valid.
   */
  async apply(event: Envelope<DataOf<typeof identityEntry>>): Promise<boolean> {
    const { data } = event;
    if (data.op === 'delete') {
      if (!this.eventEntries.delete(data.spiffeId)) return false;
    } else {
      let entry: Entry;
      try {
        entry = this.fromEvent(data);
      } catch (err) {
        this.options.log.warn(
          { err, spiffeId: data.spiffeId, eventId: event.id },
          'ignored a registration entry',
        );
        return false;
      }
      this.eventEntries.set(entry.spiffeId, entry);
    }
    await this.options.store.saveEventEntries([...this.eventEntries.values()]);
    return true;
  }

  private fromEvent(data: DataOf<typeof identityEntry>): Entry {
    const entry = entryFromEvent(data, this.options.defaults);
    const clash = [...this.desired().values()].find(
      (e) => e.name === entry.name && e.spiffeId !== entry.spiffeId,
    );
    if (clash) throw new InvalidEntryError(`name ${entry.name} is already used by ${clash.spiffeId}`);
    if (!this.eventEntries.has(entry.spiffeId) && this.eventEntries.size >= MAX_ENTRIES)
      throw new InvalidEntryError(`this host already has ${MAX_ENTRIES} entries from events`);
    if (this.fileEntries.some((e) => e.spiffeId === entry.spiffeId))
      throw new InvalidEntryError(`${entry.spiffeId} is defined in the entries file, which takes precedence`);
    return entry;
  }

  /**
   * Re-reads the entries file when it changes and calls `changed` with the new entries in place.
   * Polling stat() rather than fs.watch: editors and ConfigMap mounts replace the file by rename,
   * which an inotify watch on the old inode never sees. A changed file that is invalid is logged
   * and ignored: the last good entries stay, as a rejected policy never replaces a good one.
   */
  watch(changed: () => Promise<void>): void {
    const { file, pollMs, maxBytes, defaults, log } = this.options;
    if (!file || pollMs <= 0) return;
    let reloading = Promise.resolve();
    this.listener = () => {
      reloading = reloading.then(async () => {
        if (this.stopped) return;
        try {
          this.fileEntries = await loadEntriesFile(file, maxBytes, defaults);
          log.info({ entries: this.fileEntries.length }, 'entries file reloaded');
          await changed();
        } catch (err) {
          log.error({ err }, 'entries file change refused; keeping the last good entries');
        }
      });
    };
    watchFile(file, { interval: pollMs, persistent: false }, this.listener);
  }

  stop(): void {
    this.stopped = true;
    if (this.options.file && this.listener) unwatchFile(this.options.file, this.listener);
  }
}
