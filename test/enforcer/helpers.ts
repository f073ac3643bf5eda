import { credentials } from '@grpc/grpc-js';
import { seedFile } from '@warden/infra';
import type { TestNats } from '@warden/testing';
import type { Client, ServiceError } from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse } from '@warden/envoy';
import { DENY_REASON_HEADER, loadExtAuthz } from '@warden/envoy';
import {
  certificatePem,
  createRootCertificate,
  generateKeyPair,
  inspectCertificate,
  issueLeafCertificate,
} from '@warden/pki';

/** A CheckResponse as the client decodes it (enums by name, every field present). */
export type Decoded = CheckResponse & {
  http_response: 'ok_response' | 'denied_response';
  denied_response?: { status: { code: string | number } };
};
export type CheckClient = Client & {
  Check(request: CheckRequest, callback: (err: ServiceError | null, response?: Decoded) => void): void;
};

/** A Check from a client generated from Envoy's protos, as Envoy's ext_authz filter sends it. */
export const check = (client: CheckClient, request: CheckRequest): Promise<Decoded> =>
  new Promise((resolve, reject) =>
    client.Check(request, (err, response) => (err || !response ? reject(err) : resolve(response))),
  );

/** SVIDs from a throwaway root: the peer certificates Envoy passes along (`include_peer_certificate`). */
async function svids(ids: readonly string[]): Promise<Map<string, { pem: string; serial: string }>> {
  const keys = await generateKeyPair();
  const root = await createRootCertificate({
    trustDomain: 'warden.local',
    keys,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const out = new Map<string, { pem: string; serial: string }>();
  for (const id of ids) {
    const leaf = await issueLeafCertificate({
      spiffeId: id,
      publicKey: (await generateKeyPair()).publicKey,
      issuer: { certificate: root, privateKey: keys.privateKey },
      ttlSeconds: 3600,
    });
    const pem = certificatePem(leaf);
    out.set(id, { pem, serial: inspectCertificate(pem).serial });
  }
  return out;
}

export const frontend = 'spiffe://warden.local/ns/shop/sa/frontend';
export const stranger = 'spiffe://warden.local/ns/shop/sa/stranger';
export const certificates = await svids([frontend, stranger]);

export const call = (principal: string, method = 'GET', path = '/pay/42'): CheckRequest => ({
  attributes: {
    source: {
      principal,
      address: { socket_address: { address: '10.0.0.1', port_value: 40000 } },
      certificate: encodeURIComponent(certificates.get(principal)?.pem ?? ''),
    },
    destination: { principal: 'spiffe://warden.local/ns/shop/sa/payment' },
    request: { http: { method, path, headers: { ':authority': 'payment.shop' } } },
    context_extensions: { 'warden.namespace': 'shop', 'warden.label.app': 'payment' },
  },
});

export const reasonOf = (response: CheckResponse): string | undefined =>
  response.denied_response?.headers.find((o) => o.header.key === DENY_REASON_HEADER)?.header.value;

/** Lets the frontend GET /pay/* on payment; nothing else. */
export const payPolicy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: pay, namespace: shop }
spec:
  selector: { matchLabels: { app: payment } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["warden.local/ns/shop/sa/frontend"] } }]
      to: [{ operation: { methods: ["GET"], paths: ["/pay/*"] } }]
`;

/** A client generated from Envoy's protos, on the enforcer's ext_authz port. */
export const checkClient = (port: number): CheckClient => {
  const Client = loadExtAuthz().Client;
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as CheckClient;
};

/** The enforcer's settings on the test bus, listening for ext_authz on `port` (ADS on any free port). */
export const enforcerEnv = (nats: TestNats, port: number, extra: Record<string, string> = {}) => ({
  WARDEN_NATS_URL: nats.url,
  WARDEN_NATS_SEED_FILE: seedFile(nats.credsDir, 'enforcer'),
  WARDEN_LOG_LEVEL: 'silent',
  WARDEN_ENFORCER_EXT_AUTHZ_PORT: String(port),
  WARDEN_ENFORCER_XDS_PORT: '0',
  ...extra,
});

/** Asks again every 20 ms, for about 5 s at most, until `done` holds; the last answer either way. */
export async function checkUntil(
  client: CheckClient,
  request: CheckRequest,
  done: (response: Decoded) => boolean,
): Promise<Decoded> {
  let response = await check(client, request);
  for (let i = 0; i < 250 && !done(response); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    response = await check(client, request);
  }
  return response;
}

/** The frontend's call until its answer's reason is `want` (null: allowed); the last reason. */
export async function until(client: CheckClient, want: string | null): Promise<string | null> {
  const reason = (r: Decoded): string | null => (r.status.code === 0 ? null : (reasonOf(r) ?? 'unknown'));
  return reason(await checkUntil(client, call(frontend), (r) => reason(r) === want));
}
