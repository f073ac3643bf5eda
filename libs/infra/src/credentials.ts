import { createUser, fromSeed } from '@nats-io/nkeys';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Principal } from '@warden/events';

/** Every identity that gets its own NATS user: each principal of the permission table plus the operator. */
export const natsIdentities = [...Object.values(Principal), 'admin'] as const;
export type NatsIdentity = (typeof natsIdentities)[number];

export type NatsCredential = { identity: NatsIdentity; seed: string; publicKey: string };

/**
 * Loads the nkey seed of every identity from `dir`, creating the missing ones (files 0600).
 * The server configuration holds only public keys; each service reads its own seed file.
 */
export function ensureCredentials(dir: string): Map<NatsIdentity, NatsCredential> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const creds = new Map<NatsIdentity, NatsCredential>();
  for (const identity of natsIdentities) {
    const seed = readOrCreateSecret(seedFile(dir, identity), () =>
      new TextDecoder().decode(createUser().getSeed()),
    );
    creds.set(identity, {
      identity,
      seed,
      publicKey: fromSeed(new TextEncoder().encode(seed)).getPublicKey(),
    });
  }
  return creds;
}

/** The secret in `file` (mode 0600), written from `create()` the first time. */
export function readOrCreateSecret(file: string, create: () => string): string {
  if (!existsSync(file)) writeFileSync(file, `${create()}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

export const seedFile = (dir: string, identity: string): string => join(dir, `${identity}.nk`);
