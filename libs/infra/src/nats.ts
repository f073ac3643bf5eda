import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Account, accountLayout, accountOf, grants, natsPermissions, streamSpecs } from '@warden/events';
import type { AccountSpec, Principal } from '@warden/events';
import type { NatsCredential } from './credentials.ts';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { httpOk, startProcess } from './process.ts';
import type { ServerProcess } from './process.ts';

export type NatsServerOptions = {
  /** Data (JetStream store), config and log live here; reuse it to resume with the same data. */
  dir: string;
  port?: number;
  monitorPort?: number;
  /** Per-identity credentials; without them the server runs with no authentication (unit tests only). */
  credentials?: ReadonlyMap<string, NatsCredential>;
  serverName?: string;
  cluster?: Record<string, unknown>;
  replicas?: number;
};

export type NatsServer = ServerProcess & {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly configFile: string;
};

/**
 * The nats-server configuration: JetStream on file storage, loopback only, and one nkey user per
 * identity with the permissions derived from the table in `@warden/events`. JSON is valid NATS
 * configuration syntax, so it is generated as JSON.
 */
export function natsConfig(options: {
  port: number;
  monitorPort: number;
  storeDir: string;
  credentials?: ReadonlyMap<string, NatsCredential>;
  /** Unique per node of a cluster. */
  serverName?: string;
  /** The `cluster` block of a node that routes to others (see nats-cluster.ts). */
  cluster?: Record<string, unknown>;
  /** Copies the cluster keeps of each stream: account limits count every copy. */
  replicas?: number;
}): Record<string, unknown> {
  const config: Record<string, unknown> = {
    host: '127.0.0.1',
    port: options.port,
    http: `127.0.0.1:${options.monitorPort}`,
    server_name: options.serverName ?? 'warden-local',
    max_payload: 1024 * 1024,
    jetstream: {
      store_dir: options.storeDir,
      max_memory_store: 256 * 1024 * 1024,
      max_file_store: fileStoreLimit(options.replicas ?? 1),
    },
  };
  if (options.credentials) config['accounts'] = accountsConfig(options.credentials, options.replicas ?? 1);
  if (options.cluster) config['cluster'] = options.cluster;
  return config;
}

const GIB = 1024 ** 3;

/**
 * The file store's limit. A single nats-server admits streams' `max_bytes` and accounts' `max_file`
 * only while their sum stays under it, and checks again at every restart as it recovers the
 * accounts, in no fixed order: at 8 GiB, WARDEN's recovered reservations (telemetry 4 GiB,
 * topology 2 GiB) and then PEOPLE_HISTORY's 4 GiB refused to start JetStream at about every other
 * restart. So: every reservation, plus 8 GiB for the streams without a size limit.
 */
export function fileStoreLimit(replicas: number): number {
  const reserved = streamSpecs.reduce((sum, spec) => sum + Math.max(0, spec.maxBytes), 0);
  return reserved + PEOPLE_JETSTREAM_LIMITS.max_file * replicas + 8 * GIB;
}

/** Limits of `PEOPLE_HISTORY`'s JetStream, which holds only people's read-only mirrors (ARCHITECTURE §7). */
export const PEOPLE_JETSTREAM_LIMITS = {
  max_memory: 64 * 1024 ** 2,
  max_file: 4 * 1024 ** 3,
  max_streams: 8,
  // Per stream: how many readers (`warden events tail`, `nats stream view`) people run at once.
  max_consumers: 64,
  // A mirror without a size limit would be refused, so no copy grows unbounded.
  max_bytes_required: true,
};

/**
 * One account per side of the isolation boundary: nkey users with their generated permissions,
 * and the exports and imports of `accountLayout()`. The operator (`admin`) is unrestricted
 * inside `WARDEN` only.
 */
function accountsConfig(
  credentials: ReadonlyMap<string, NatsCredential>,
  replicas: number,
): Record<string, unknown> {
  // A clustered account's storage limit counts every replica of a stream: the same mirrors at R3
  // need three times the room.
  const peopleLimits = {
    ...PEOPLE_JETSTREAM_LIMITS,
    max_memory: PEOPLE_JETSTREAM_LIMITS.max_memory * replicas,
    max_file: PEOPLE_JETSTREAM_LIMITS.max_file * replicas,
  };
  const layout = accountLayout();
  const accounts: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(layout) as [Account, AccountSpec][]) {
    const users = [...credentials.values()]
      .filter((cred) => accountOf(cred.identity) === name)
      .map((cred) =>
        cred.identity === 'admin'
          ? { nkey: cred.publicKey }
          : { nkey: cred.publicKey, permissions: responderPermissions(cred.identity as Principal) },
      );
    accounts[name] = {
      ...(spec.jetstream === 'unlimited' ? { jetstream: 'enabled' } : {}),
      ...(spec.jetstream === 'mirrors-only' ? { jetstream: peopleLimits } : {}),
      users,
      exports: spec.exports.map((e) => ({
        [e.kind]: e.subject,
        accounts: e.to,
        ...(e.responses ? { response_type: e.responses } : {}),
      })),
      imports: spec.imports.map((i) => ({
        [i.kind]: { account: i.from, subject: i.subject },
        ...(i.as ? { to: i.as } : {}),
      })),
    };
  }
  return accounts;
}

/**
 * A principal that answers requests may publish one reply to each request it received, and
 * nothing else beyond its table row: the reply subject is the requester's choice, so it is not
 * granted wholesale (the bus also answers only to inbox subjects).
 */
function responderPermissions(principal: Principal): Record<string, unknown> {
  const permissions = natsPermissions(principal);
  return grants[principal].serves.length > 0 ? { ...permissions, allow_responses: { max: 1 } } : permissions;
}

/**
 * A store written before Warden used accounts keeps its streams under the global account `$G`;
 * with accounts they belong to `WARDEN`. Moving the folder once keeps every stored event.
 */
export function adoptSingleAccountStore(storeDir: string): boolean {
  const global = join(storeDir, 'jetstream', '$G');
  const warden = join(storeDir, 'jetstream', Account.warden);
  if (!existsSync(global) || existsSync(warden)) return false;
  renameSync(global, warden);
  return true;
}

export async function startNats(options: NatsServerOptions): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const monitorPort = options.monitorPort ?? (await freePort());
  const storeDir = join(options.dir, 'jetstream');
  mkdirSync(storeDir, { recursive: true });
  if (options.credentials) adoptSingleAccountStore(storeDir);
  const configFile = join(options.dir, 'nats.conf');
  const config = natsConfig({
    port,
    monitorPort,
    storeDir,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.serverName ? { serverName: options.serverName } : {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
    ...(options.replicas ? { replicas: options.replicas } : {}),
  });
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  const server = await startProcess({
    name: options.serverName ?? 'nats-server',
    command: binary('nats-server'),
    args: ['-c', configFile],
    logFile: join(options.dir, 'nats-server.log'),
    ready: () => httpOk(`${monitorUrl}/healthz?js-enabled-only=true`),
  });
  return { ...server, url: `nats://127.0.0.1:${port}`, port, monitorUrl, configFile };
}
