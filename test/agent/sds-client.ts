import type { ClientDuplexStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import type { DecodedSecret, DiscoveryRequest } from '@warden/envoy';
import { loadSds, SECRET_TYPE_URL } from '@warden/envoy';

export type Received = { version: string; nonce: string; secrets: DecodedSecret[]; at: number };

type WireResponse = {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: { type_url: string; value: Buffer }[];
};

/**
 * An SDS client generated from Envoy's protos, behaving as Envoy does: one StreamSecrets stream,
 * node id on the first request, an ACK (version + nonce) for every response.
 */
export class SdsClient {
  readonly received: Received[] = [];
  readonly errors: Error[] = [];
  private readonly client: InstanceType<ReturnType<typeof loadSds>['Client']>;
  private readonly call: ClientDuplexStream<DiscoveryRequest, WireResponse>;
  private readonly names: string[];

  constructor(socket: string, nodeId: string, names: string[]) {
    const sds = loadSds();
    this.names = names;
    this.client = new sds.Client(`unix:${socket}`, credentials.createInsecure());
    const open = this.client['StreamSecrets'] as () => ClientDuplexStream<DiscoveryRequest, WireResponse>;
    this.call = open.call(this.client);
    this.call.on('data', (response: WireResponse) => {
      this.received.push({
        version: response.version_info,
        nonce: response.nonce,
        secrets: response.resources.map((any) => sds.unpackSecret(any)),
        at: Date.now(),
      });
      this.call.write({
        version_info: response.version_info,
        response_nonce: response.nonce,
        resource_names: this.names,
        type_url: SECRET_TYPE_URL,
      });
    });
    this.call.on('error', (err: Error) => this.errors.push(err));
    this.call.write({ node: { id: nodeId }, resource_names: names, type_url: SECRET_TYPE_URL });
  }

  /** The latest response's secret of this name, or undefined. */
  latest(name: string): DecodedSecret | undefined {
    return this.received.at(-1)?.secrets.find((s) => s.name === name);
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export const chainOf = (secret: DecodedSecret | undefined): string | undefined =>
  secret?.tls_certificate?.certificate_chain?.inline_bytes?.toString();
