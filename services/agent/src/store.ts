import { createHash } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Entry } from './entries.ts';
import { CacheError } from './errors.ts';
import { DIR_MODE, readSmallFile, removeFile, writeFileAtomic } from './files.ts';
import type { Bundle, Svid } from './svid.ts';
import { checkSvid } from './svid.ts';

/** An SVID file holds a key and a short chain: a few KiB. Anything far larger is not ours. */
const MAX_SVID_FILE_BYTES = 256 * 1024;
const MAX_BUNDLE_FILE_BYTES = 1024 * 1024;
const MAX_ENTRIES_FILE_BYTES = 16 * 1024 * 1024;

const svidFile = z.object({
  version: z.literal(1),
  spiffeId: z.string().max(2048),
  keyPem: z.string().max(16_384),
  chainPem: z.array(z.string().max(65_536)).min(1).max(5),
  obtainedAt: z.string(),
});
const bundleFile = z.object({
  trustDomain: z.string().min(1).max(255),
  sequence: z.number().int().nonnegative(),
  rootsPem: z.array(z.string().min(1).max(65_536)).min(1).max(16),
});
const entriesFile = z.object({
  version: z.literal(1),
  entries: z
    .array(
      z.object({
        spiffeId: z.string().max(2048),
        name: z.string().max(63),
        dir: z.string().max(1024),
        keyAlgorithm: z.enum(['ecdsa-p256', 'rsa-2048']),
        ttlSeconds: z.number().int().positive().optional(),
        joinToken: z.string().max(512).optional(),
        selectors: z.record(z.string(), z.string()),
        source: z.literal('event'),
      }),
    )
    .max(10_000),
});

const parseJson = (text: string, what: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CacheError(`${what} is not JSON`, { cause });
  }
};

/**
 * The agent's state on disk (all files 0600, written atomically): one file per SVID with its
 * private key, the trust bundle, and the entries that arrived as events (the durable consumer
 * resumes after a restart and would not deliver them again). What lets a restarted agent serve at
 * once without calling the CA.
 */
export class Store {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The store in `dir`, created if need be. */
  static async open(dir: string): Promise<Store> {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // The folder holds private keys: whatever it was created with, only the agent may enter it.
    await chmod(dir, DIR_MODE);
    return new Store(dir);
  }

  /** File names are a hash of the SPIFFE ID: no path can be smuggled in through an ID. */
  private svidPath(spiffeId: string): string {
    return join(
      this.dir,
      'svids',
      `${createHash('sha256').update(spiffeId).digest('hex').slice(0, 32)}.json`,
    );
  }

  async saveSvid(svid: Svid): Promise<void> {
    const body = {
      version: 1,
      spiffeId: svid.spiffeId,
      keyPem: svid.keyPem,
      chainPem: svid.chainPem,
      obtainedAt: svid.obtainedAt.toISOString(),
    };
    await writeFileAtomic(this.svidPath(svid.spiffeId), `${JSON.stringify(body)}\n`);
  }

  /**
   * The cached SVID for this identity if it is still usable: readable, for this SPIFFE ID, its
   * key and certificate a pair, unexpired, and chaining to the bundle when one is known. An
   * unusable one is deleted and reported as null (the agent then asks the CA).
   */
  async loadSvid(spiffeId: string, bundle: Bundle | null, now = new Date()): Promise<Svid | null> {
    const path = this.svidPath(spiffeId);
    const text = await readSmallFile(path, MAX_SVID_FILE_BYTES);
    if (text === null) return null;
    const parsed = svidFile.safeParse(parseJson(text, path));
    if (!parsed.success || parsed.data.spiffeId !== spiffeId) {
      await removeFile(path);
      return null;
    }
    const obtainedAt = new Date(parsed.data.obtainedAt);
    try {
      return checkSvid({
        spiffeId,
        keyPem: parsed.data.keyPem,
        chainPem: parsed.data.chainPem,
        bundle,
        obtainedAt: Number.isNaN(obtainedAt.getTime()) ? now : obtainedAt,
        now,
      });
    } catch {
      await removeFile(path);
      return null;
    }
  }

  deleteSvid(spiffeId: string): Promise<void> {
    return removeFile(this.svidPath(spiffeId));
  }

  async saveBundle(bundle: Bundle): Promise<void> {
    await writeFileAtomic(join(this.dir, 'bundle.json'), `${JSON.stringify(bundle)}\n`);
  }

  async loadBundle(): Promise<Bundle | null> {
    const path = join(this.dir, 'bundle.json');
    const text = await readSmallFile(path, MAX_BUNDLE_FILE_BYTES);
    if (text === null) return null;
    const parsed = bundleFile.safeParse(parseJson(text, path));
    return parsed.success ? parsed.data : null;
  }

  async saveEventEntries(entries: readonly Entry[]): Promise<void> {
    await writeFileAtomic(join(this.dir, 'entries.json'), `${JSON.stringify({ version: 1, entries })}\n`);
  }

  async loadEventEntries(): Promise<Entry[]> {
    const path = join(this.dir, 'entries.json');
    const text = await readSmallFile(path, MAX_ENTRIES_FILE_BYTES);
    if (text === null) return [];
    const parsed = entriesFile.safeParse(parseJson(text, path));
    if (!parsed.success) throw new CacheError(`${path} is not a valid entries file`);
    return parsed.data.entries;
  }
}
