import { readFileSync } from 'node:fs';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { messageOf, WardenError } from '@warden/core';
import { inboxPrefix } from '@warden/events';
import type { Principal } from '@warden/events';
import type { Logger } from 'pino';
import { parseNatsServers } from './nats-servers.ts';

export class NatsCredentialsError extends WardenError {
  constructor(file: string, cause: unknown) {
    super('bad_credentials', `cannot read the NATS nkey seed from ${file}: ${messageOf(cause)}`, { cause });
  }
}

/** The nkey seed in `file` (`S...`), or a clear error naming the file. */
export function readSeed(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new NatsCredentialsError(file, cause);
  }
}

export class NatsServersError extends WardenError {
  constructor(text: string) {
    super(
      'invalid_config',
      `not a nats:// or tls:// URL, or a comma-separated list of them: ${JSON.stringify(text)}`,
    );
  }
}

/**
 * One connection per service, authenticated with the service's own nkey and using its own inbox
 * prefix, which its permissions let only it read. Reconnects forever: a NATS restart is an outage
 * to ride out, not a reason to exit. `url` may list every server of a cluster (comma-separated):
 * the client starts at a random one and, when its server goes, moves to another (jittered, so
 * replicas do not all land on one node at the same instant).
 */
export async function connectNats(options: {
  url: string;
  principal: Principal | 'admin';
  instance: string;
  seedFile?: string | undefined;
  seed?: string | undefined;
  logger?: Logger;
  /** For tools (the CLI): fail at once when the server is not there instead of waiting for it. */
  reconnect?: boolean;
}): Promise<NatsConnection> {
  const servers = parseNatsServers(options.url);
  if (!servers) throw new NatsServersError(options.url);
  let seed = options.seed;
  if (!seed && options.seedFile) seed = readSeed(options.seedFile);
  const nc = await connect({
    servers,
    name: options.instance,
    // Otherwise every request and JetStream publish builds two Error objects up front, to carry
    // the caller's stack should it fail: 7% of the CA's CPU at 2,000 SVIDs/s. Failures still
    // carry their message and subject; the bus adds its own context when it reports them.
    noAsyncTraces: true,
    ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}),
    ...(options.principal === 'admin' ? {} : { inboxPrefix: inboxPrefix(options.principal) }),
    ...(options.reconnect === false
      ? { maxReconnectAttempts: 0, waitOnFirstConnect: false, timeout: 3000 }
      : {
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          reconnectJitterTLS: 1000,
          waitOnFirstConnect: true,
        }),
  });
  const log = options.logger;
  if (log) {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'error' || status.type === 'disconnect')
          log.warn({ nats: status }, 'nats connection status');
        else log.debug({ nats: status }, 'nats connection status');
      }
    })();
  }
  return nc;
}
