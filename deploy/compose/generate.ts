import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { servicePrincipals } from '@warden/events';
import { ensureCredentials, natsConfig, repoRoot, seedFile } from '@warden/infra';
import type { NatsCredential, NatsIdentity } from '@warden/infra';

/**
 * Writes what docker-compose.yml mounts and the repository must not hold: the nats-server
 * configuration (public keys and per-service permissions only) and one nkey seed per identity.
 * Existing seeds are kept, so running it again only picks up permission changes.
 *
 *   node deploy/compose/generate.ts && docker compose up --build
 */

/**
 * The one Dockerfile of every service image, relative to the repository root (the build context);
 * compose builds it with the build argument SERVICE set to the service's folder of services/.
 */
export const dockerfile = 'deploy/Dockerfile';

/** The package.json description of a service that only boots, provisions, audits and reports ready. */
export const bootOnlyMarker = 'Boot-only placeholder:';

/**
 * Whether a service is still a boot-only placeholder, from its package.json description.
 * docker-compose.yml leaves those out until they do something (`make up` still runs them).
 */
export function isBootOnly(service: string): boolean {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'services', service, 'package.json'), 'utf8')) as {
    description?: unknown;
  };
  return typeof manifest.description === 'string' && manifest.description.startsWith(bootOnlyMarker);
}

/** The services docker-compose.yml runs: every service but the boot-only placeholders. */
export const composeServices: readonly string[] = servicePrincipals.filter((name) => !isBootOnly(name));

export const composeDir = import.meta.dirname;
export const natsConfigFile = join(composeDir, 'nats.conf');
export const credsDir = join(composeDir, 'creds');

/** The generated configuration, changed only where containers differ from the local stack. */
export function composeNatsConfig(credentials: ReadonlyMap<string, NatsCredential>): Record<string, unknown> {
  return {
    ...natsConfig({ port: 4222, monitorPort: 8222, storeDir: '/data/jetstream', credentials }),
    // natsConfig binds to loopback for the local stack; in a container the services are elsewhere.
    host: '0.0.0.0',
    http: '0.0.0.0:8222',
    server_name: 'warden-compose',
  };
}

export function generate(dir: string = composeDir): {
  configFile: string;
  credentials: Map<NatsIdentity, NatsCredential>;
} {
  const creds = join(dir, 'creds');
  const credentials = ensureCredentials(creds);
  // Compose mounts a file secret as a bind mount with the host's owner and mode, and the images run
  // as uid 1000 (node), which may not be the host user. The directory stays 0700 (closed to other
  // host users); the seeds the services read are made readable inside it. The operator's and
  // people's seeds stay 0600.
  chmodSync(creds, 0o700);
  for (const name of servicePrincipals) chmodSync(seedFile(creds, name), 0o644);
  // The CA's key-encryption key: created once, never rotated by this script (a new one would make
  // the sealed keys on the ca-data volume unreadable).
  const caEnv = join(dir, 'ca.env');
  if (!existsSync(caEnv)) {
    writeFileSync(caEnv, `WARDEN_CA_KEK=${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  }
  const configFile = join(dir, 'nats.conf');
  // JSON is valid nats-server configuration syntax. It holds public keys only.
  writeFileSync(configFile, `${JSON.stringify(composeNatsConfig(credentials), null, 2)}\n`, { mode: 0o644 });
  chmodSync(configFile, 0o644);
  return { configFile, credentials };
}

if (import.meta.main) {
  const { configFile, credentials } = generate();
  const show = (file: string): string => relative(repoRoot, file);
  process.stdout.write(
    `wrote ${show(configFile)} and ${credentials.size} nkey seeds in ${show(credsDir)}/\n` +
      `start the stack with: docker compose up --build (services: ${composeServices.join(', ')})\n`,
  );
}
