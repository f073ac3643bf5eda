import { isAbsolute, join, resolve } from 'node:path';
import { messageOf } from '@warden/core';
import { KeyAlgorithm, parseSpiffeId } from '@warden/pki';
import { MAX_REPORTED_ISSUES, parseYamlFile } from '@warden/runtime';
import { z } from 'zod';
import type { PositionedIssue } from './errors.ts';
import { EntriesFileError, InvalidEntryError } from './errors.ts';

/**
 * A registration entry: which local workload gets which SPIFFE ID, where its PEM files go, and
 * what proves it to the CA the first time (a single-use join token). Renewals prove themselves
 * with the current SVID, so the token matters only until the first certificate.
 */
export type Entry = {
  readonly spiffeId: string;
  /** Unique on this host: the Envoy node id SDS maps to it, and the default output folder name. */
  readonly name: string;
  /** Absolute folder for cert-chain.pem, key.pem and root-cert.pem. */
  readonly dir: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly ttlSeconds?: number;
  readonly joinToken?: string;
  readonly selectors: Readonly<Record<string, string>>;
  readonly source: 'file' | 'event';
};

export const MAX_ENTRIES = 10_000;
/** A name is one path segment: it can never climb out of the workloads folder. */
const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const name = z.string().regex(NAME, 'a name: lower-case letters, digits, ., - and _, at most 63');
const keyAlgorithm = z.enum([KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048]);
const joinToken = z.string().min(1).max(512);
const ttlSeconds = z
  .number()
  .int()
  .positive()
  .max(30 * 86_400);

const fileEntry = z.strictObject({
  spiffeId: z.string().max(2048),
  name: name.optional(),
  /** Absolute, or relative to `<agent dir>/workloads`. */
  dir: z.string().min(1).max(1024).optional(),
  keyAlgorithm: keyAlgorithm.optional(),
  ttlSeconds: ttlSeconds.optional(),
  joinToken: joinToken.optional(),
  selectors: z.record(z.string().max(128), z.string().max(1024)).default({}),
});
// `entries:` with nothing under it is YAML null: read as no entries, not as an error.
const entriesFile = z.strictObject({
  entries: z
    .array(fileEntry)
    .max(MAX_ENTRIES)
    .nullable()
    .default([])
    .transform((list) => list ?? []),
});

export type EntryDefaults = {
  trustDomain: string;
  /** `<agent dir>/workloads`: where relative and default output folders live. */
  workloadsDir: string;
  keyAlgorithm: KeyAlgorithm;
  ttlSeconds?: number | undefined;
};

/** `ns/demo/sa/web` → `demo.web`; any other path → its segments joined by dots. */
export function defaultName(spiffeId: string): string {
  const { segments } = parseSpiffeId(spiffeId);
  const parts =
    segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa'
      ? [segments[1] ?? '', segments[3] ?? '']
      : [...segments];
  const joined = parts
    .join('.')
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-z0-9]+$/, '');
  return joined === '' ? 'workload' : joined;
}

/** Checks the SPIFFE ID belongs to this trust domain and names a workload; returns its canonical form. */
function checkSpiffeId(text: string, trustDomain: string): string {
  const id = parseSpiffeId(text);
  if (id.trustDomain !== trustDomain)
    throw new InvalidEntryError(`${id.uri} is not in trust domain ${trustDomain}`);
  if (id.path === '')
    throw new InvalidEntryError('an entry names a workload SPIFFE ID, not the trust domain');
  return id.uri;
}

/**
 * Parses and validates an entries file. Every problem (YAML syntax, schema, SPIFFE IDs, duplicate
 * names or identities) is reported at once with its line and column; an invalid file is refused
 * as a whole, never half-applied.
 */
export function parseEntriesFile(text: string, file: string, defaults: EntryDefaults): Entry[] {
  const parsed = parseYamlFile(text, entriesFile);
  if (!parsed.ok) throw new EntriesFileError(file, parsed.issues);
  const { positionOf } = parsed;

  const issues: PositionedIssue[] = [];
  const entries: Entry[] = [];
  const names = new Set<string>();
  const ids = new Set<string>();
  const dirs = new Set<string>();
  parsed.data.entries.forEach((e, i) => {
    const at = (field: string, message: string): void => {
      issues.push({ path: `entries.${i}.${field}`, message, ...positionOf(['entries', i, field]) });
    };
    let spiffeId: string;
    try {
      spiffeId = checkSpiffeId(e.spiffeId, defaults.trustDomain);
    } catch (err) {
      at('spiffeId', messageOf(err));
      return;
    }
    const entryName = e.name ?? defaultName(spiffeId);
    if (names.has(entryName)) at(e.name ? 'name' : 'spiffeId', `duplicate name ${entryName}`);
    if (ids.has(spiffeId)) at('spiffeId', `duplicate entry for ${spiffeId}`);
    names.add(entryName);
    ids.add(spiffeId);
    const ttl = e.ttlSeconds ?? defaults.ttlSeconds;
    const dir = e.dir
      ? isAbsolute(e.dir)
        ? resolve(e.dir)
        : resolve(defaults.workloadsDir, e.dir)
      : join(defaults.workloadsDir, entryName);
    // Two identities writing one folder would overwrite each other's key.
    if (dirs.has(dir)) at(e.dir ? 'dir' : 'spiffeId', `folder ${dir} is already used by another entry`);
    dirs.add(dir);
    entries.push({
      spiffeId,
      name: entryName,
      dir,
      keyAlgorithm: e.keyAlgorithm ?? defaults.keyAlgorithm,
      ...(ttl ? { ttlSeconds: ttl } : {}),
      ...(e.joinToken ? { joinToken: e.joinToken } : {}),
      selectors: e.selectors,
      source: 'file',
    });
  });
  if (issues.length > 0) throw new EntriesFileError(file, issues.slice(0, MAX_REPORTED_ISSUES));
  return entries;
}

/**
 * Selectors an entry event may carry for the agent. The event schema has no fields for a name or
 * bootstrap evidence, so they ride in `selectors` under these keys. An event can never choose an
 * absolute output folder: its files always go to `<agent dir>/workloads/<name>`.
 */
export const EntrySelector = {
  name: 'warden.io/name',
  joinToken: 'warden.io/join-token',
  keyAlgorithm: 'warden.io/key-algorithm',
  ttlSeconds: 'warden.io/ttl-seconds',
} as const;

const eventSelectors = z.object({
  [EntrySelector.name]: name.optional(),
  [EntrySelector.joinToken]: joinToken.optional(),
  [EntrySelector.keyAlgorithm]: keyAlgorithm.optional(),
  [EntrySelector.ttlSeconds]: z.coerce.number().pipe(ttlSeconds).optional(),
});

/** An entry from a `warden.identity.v1.entry` upsert; throws `InvalidEntryError` when unusable. */
export function entryFromEvent(
  data: { spiffeId: string; selectors: Record<string, string> },
  defaults: EntryDefaults,
): Entry {
  let spiffeId: string;
  try {
    spiffeId = checkSpiffeId(data.spiffeId, defaults.trustDomain);
  } catch (err) {
    if (err instanceof InvalidEntryError) throw err;
    throw new InvalidEntryError(messageOf(err));
  }
  const parsed = eventSelectors.safeParse(data.selectors);
  if (!parsed.success)
    throw new InvalidEntryError(
      `${spiffeId}: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`,
    );
  const s = parsed.data;
  const entryName = s[EntrySelector.name] ?? defaultName(spiffeId);
  const ttl = s[EntrySelector.ttlSeconds] ?? defaults.ttlSeconds;
  const token = s[EntrySelector.joinToken];
  // The token is evidence, not a label: it is kept apart from the selectors the agent stores.
  const selectors = Object.fromEntries(
    Object.entries(data.selectors).filter(([key]) => key !== EntrySelector.joinToken),
  );
  return {
    spiffeId,
    name: entryName,
    dir: join(defaults.workloadsDir, entryName),
    keyAlgorithm: s[EntrySelector.keyAlgorithm] ?? defaults.keyAlgorithm,
    ...(ttl ? { ttlSeconds: ttl } : {}),
    ...(token ? { joinToken: token } : {}),
    selectors,
    source: 'event',
  };
}
