import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerUnaryCall,
  ServiceError,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse, Secret } from '@warden/envoy';
import { loadSds, SECRET_TYPE_URL } from '@warden/envoy';
import type { Logger } from '@warden/runtime';
import { SdsSocketError } from './errors.ts';
import type { Bundle, Svid } from './svid.ts';
import { bundleText, chainText } from './svid.ts';

/** Resource names as Istio's agent names them, so an Envoy configured for Istio works unchanged. */
export const SdsResource = { certificate: 'default', roots: 'ROOTCA' } as const;

/** What the SDS server serves from: the agent's current state, read at each push. */
export type SecretSource = {
  /** The SVID for the workload behind this Envoy node (by node id), or null. */
  certificateFor(nodeId: string | undefined): Svid | null;
  bundle(): Bundle | null;
};

// Envoy asks for one or two names per stream; a request is tiny. Anything far larger is not Envoy.
const MAX_REQUEST_BYTES = 64 * 1024;
const MAX_RESOURCE_NAMES = 16;
const MAX_NAME_LENGTH = 256;
const MAX_STREAMS = 1024;

type Stream = {
  readonly call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  nodeId: string | undefined;
  names: string[];
  /** The nonce of the last response: an ACK or NACK names it; a request naming an older one is stale. */
  lastNonce: string | undefined;
  /** What the last response carried (resource versions); a push with the same content is skipped. */
  lastKey: string | undefined;
};

const rpcError = (code: status, details: string): Partial<ServiceError> => ({
  code,
  details,
  name: 'SdsError',
  message: details,
});

/**
 * Envoy's Secret Discovery Service on a Unix socket (state-of-the-world `StreamSecrets` and
 * `FetchSecrets`). Each stream gets the current `default` and `ROOTCA` as soon as they exist,
 * and a new version on the same stream whenever they change (rotation, a new bundle), without a
 * reconnect. A revoked identity disappears from the next push and is never sent again.
 */
export class SdsServer {
  private readonly server: Server;
  private readonly source: SecretSource;
  private readonly log: Logger;
  private readonly streams = new Set<Stream>();
  private readonly path: string;

  private constructor(server: Server, path: string, source: SecretSource, log: Logger) {
    this.server = server;
    this.path = path;
    this.source = source;
    this.log = log;
  }

  static async start(path: string, source: SecretSource, log: Logger): Promise<SdsServer> {
    await prepareSocketPath(path);
    const server = new Server({
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.max_concurrent_streams': MAX_STREAMS,
    });
    const sds = new SdsServer(server, path, source, log);
    const implementation: UntypedServiceImplementation = {
      StreamSecrets: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => sds.stream(call),
      FetchSecrets: (
        call: ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>,
        callback: sendUnaryData<DiscoveryResponse>,
      ) => sds.fetch(call, callback),
      DeltaSecrets: (call: ServerDuplexStream<unknown, unknown>) =>
        call.emit('error', rpcError(status.UNIMPLEMENTED, 'delta SDS is not served; use StreamSecrets')),
    };
    server.addService(loadSds().service, implementation);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    // The socket hands out private keys: only the agent's own user (and Envoy running as it) may connect.
    await chmod(path, 0o600);
    log.info({ socket: path }, 'serving Envoy SDS');
    return sds;
  }

  /** The served state changed: every open stream whose content changed gets a new version. */
  notify(): void {
    for (const stream of this.streams) this.push(stream);
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.call.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await unlink(this.path).catch(() => undefined);
  }

  private stream(call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void {
    if (this.streams.size >= MAX_STREAMS) {
      call.emit('error', rpcError(status.RESOURCE_EXHAUSTED, 'too many SDS streams'));
      return;
    }
    const stream: Stream = { call, nodeId: undefined, names: [], lastNonce: undefined, lastKey: undefined };
    this.streams.add(stream);
    const forget = (): void => void this.streams.delete(stream);
    call.on('data', (request: DiscoveryRequest) => this.onRequest(stream, request));
    call.on('end', () => {
      forget();
      call.end();
    });
    call.on('error', forget);
    call.on('cancelled', forget);
    call.on('close', forget);
  }

  private onRequest(stream: Stream, request: DiscoveryRequest): void {
    const problem = checkRequest(request);
    if (problem) {
      this.log.warn({ problem }, 'refused an SDS request');
      this.streams.delete(stream);
      stream.call.emit('error', rpcError(status.INVALID_ARGUMENT, problem));
      return;
    }
    // Envoy sends its node only on a stream's first request.
    if (request.node?.id) stream.nodeId = request.node.id;
    if (request.response_nonce && request.response_nonce !== stream.lastNonce) return; // stale
    if (request.error_detail && request.error_detail.message) {
      this.log.warn(
        { node: stream.nodeId, error: request.error_detail.message },
        'Envoy rejected a secret (NACK)',
      );
      return;
    }
    const names = [...new Set(request.resource_names ?? [])].sort();
    if (names.join('\n') !== stream.names.join('\n')) {
      stream.names = names;
      stream.lastKey = undefined;
    }
    this.push(stream);
  }

  private push(stream: Stream): void {
    if (stream.names.length === 0) return;
    const { secrets, key } = this.secretsFor(stream.nodeId, stream.names);
    if (key === stream.lastKey) return;
    // Nothing to say yet on a fresh stream: Envoy waits (its listener warms) until there is.
    if (secrets.length === 0 && stream.lastKey === undefined) return;
    const sds = loadSds();
    const nonce = randomBytes(8).toString('hex');
    stream.lastNonce = nonce;
    stream.lastKey = key;
    try {
      stream.call.write({
        version_info: versionOf(key),
        resources: secrets.map((secret) => sds.packSecret(secret)),
        type_url: SECRET_TYPE_URL,
        nonce,
      });
    } catch (err) {
      // A stream closing under the write must not keep the other streams from their push.
      this.log.debug({ err }, 'SDS stream closed during a push');
      this.streams.delete(stream);
    }
  }

  private fetch(
    call: ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>,
    callback: sendUnaryData<DiscoveryResponse>,
  ): void {
    const problem = checkRequest(call.request);
    if (problem) return callback(rpcError(status.INVALID_ARGUMENT, problem));
    const names = [...new Set(call.request.resource_names ?? [])].sort();
    const { secrets, key } = this.secretsFor(call.request.node?.id || undefined, names);
    if (secrets.length === 0)
      return callback(rpcError(status.NOT_FOUND, 'none of the requested secrets is available'));
    const sds = loadSds();
    callback(null, {
      version_info: versionOf(key),
      resources: secrets.map((secret) => sds.packSecret(secret)),
      type_url: SECRET_TYPE_URL,
      nonce: randomBytes(8).toString('hex'),
    });
  }

  private secretsFor(
    nodeId: string | undefined,
    names: readonly string[],
  ): { secrets: Secret[]; key: string } {
    const secrets: Secret[] = [];
    const parts: string[] = [];
    for (const name of names) {
      if (name === SdsResource.certificate) {
        const svid = this.source.certificateFor(nodeId);
        if (!svid) continue;
        secrets.push({
          name,
          tls_certificate: {
            certificate_chain: { inline_bytes: Buffer.from(chainText(svid)) },
            private_key: { inline_bytes: Buffer.from(svid.keyPem) },
          },
        });
        parts.push(`${name}=${svid.serial}`);
      } else if (name === SdsResource.roots) {
        const bundle = this.source.bundle();
        if (!bundle) continue;
        const text = bundleText(bundle);
        secrets.push({ name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(text) } } });
        parts.push(`${name}=${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
      }
    }
    return { secrets, key: parts.join(',') };
  }
}

const versionOf = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

/** Bad input never crashes the agent: a malformed request ends its own stream with a clear status. */
function checkRequest(request: DiscoveryRequest): string | null {
  if (request.type_url && request.type_url !== SECRET_TYPE_URL)
    return `type_url must be ${SECRET_TYPE_URL}, got ${request.type_url.slice(0, 200)}`;
  const names = request.resource_names ?? [];
  if (names.length > MAX_RESOURCE_NAMES) return `at most ${MAX_RESOURCE_NAMES} resource names per request`;
  if (names.some((n) => n.length > MAX_NAME_LENGTH))
    return `resource names are at most ${MAX_NAME_LENGTH} characters`;
  return null;
}

/**
 * A stale socket from an earlier run is removed; anything else at that path (a file, a folder) is
 * left alone and refused: the agent never deletes what it did not create.
 */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!info) return;
  if (!info.isSocket())
    throw new SdsSocketError(`${path} exists and is not a socket; refusing to replace it`);
  await unlink(path);
}
