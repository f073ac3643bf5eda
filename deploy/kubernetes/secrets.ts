import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { servicePrincipals } from '@warden/events';
import { ensureCredentials, ensureRedisCredentials, redisAclFile, redisUsers, repoRoot } from '@warden/infra';
import { stringify } from 'yaml';
import { composeNatsConfig } from '../compose/generate.ts';

/**
 * What the manifests of deploy/kubernetes/base reference and the repository must not hold: one
 * NATS nkey seed per service, the nats-server configuration (public keys and permissions), the
 * Redis ACL file and each Redis user's password, the CA's key-encryption key and the detector's
 * receiver token; plus the vmalert rules ConfigMap, from services/detector/rules. The key material
 * is generated once into a git-ignored folder and kept: running it again prints the same Secrets.
 *
 *   node deploy/kubernetes/secrets.ts | kubectl apply -f -
 */

export const credsDir = join(import.meta.dirname, 'creds');

/** The namespace of the agent's DaemonSet (hostPath for the SDS socket); every other service is in `warden`. */
const namespaceOf = (service: string): string => (service === 'agent' ? 'warden-agent' : 'warden');

type Manifest = {
  apiVersion: 'v1';
  kind: 'Secret' | 'ConfigMap';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  type?: 'Opaque';
  stringData?: Record<string, string>;
  data?: Record<string, string>;
};

const secret = (namespace: string, name: string, stringData: Record<string, string>): Manifest => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'warden' } },
  type: 'Opaque',
  stringData,
});

/** A random value in `file` (0600), created the first time; never rotated here. */
function keptRandom(file: string, bytes: number): string {
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(bytes).toString('base64')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

/**
 * Secrets the operator creates, because their content comes from elsewhere (deploy/README.md):
 * telemetry-ingest's SVID, issued by Warden's CA and renewed before it expires.
 */
export const operatorSecrets = [
  {
    namespace: 'warden',
    name: 'warden-telemetry-ingest-svid',
    keys: ['cert-chain.pem', 'key.pem', 'root-cert.pem'],
  },
] as const;

/** The Secrets and the rules ConfigMap, generating what `dir` lacks. */
export function kubernetesSecrets(dir: string = credsDir): Manifest[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const credentials = ensureCredentials(dir);
  const passwords = ensureRedisCredentials(dir);
  const manifests: Manifest[] = [];
  for (const service of servicePrincipals) {
    const credential = credentials.get(service);
    if (!credential) throw new Error(`no nkey seed for ${service}`);
    manifests.push(
      secret(namespaceOf(service), `warden-${service}-nkey`, { 'nats.nk': `${credential.seed}\n` }),
    );
  }
  manifests.push(
    secret('warden', 'warden-nats-config', {
      // JSON is nats-server configuration syntax; base/nats.yaml includes it and names the server.
      'nats.conf': `${JSON.stringify(composeNatsConfig(credentials), null, 2)}\n`,
    }),
    secret('warden', 'warden-redis-acl', { 'users.acl': redisAclFile(passwords) }),
  );
  for (const user of Object.keys(redisUsers) as (keyof typeof redisUsers)[]) {
    const password = passwords.get(user);
    if (!password) throw new Error(`no Redis password for ${user}`);
    manifests.push(secret('warden', `warden-${user}-redis`, { password }));
  }
  manifests.push(
    // Without it the sealed keys on the CA's volume are unreadable: back it up with the volume.
    secret('warden', 'warden-ca-kek', { kek: keptRandom(join(dir, 'ca.kek'), 32) }),
    secret('warden', 'warden-detector-receiver-token', {
      token: keptRandom(join(dir, 'detector-receiver.token'), 32),
    }),
  );
  const rulesDir = join(repoRoot, 'services', 'detector', 'rules');
  const rules = readdirSync(rulesDir)
    .filter((file) => file.endsWith('.rules.yml'))
    .sort();
  manifests.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'warden-vmalert-rules',
      namespace: 'warden',
      labels: { 'app.kubernetes.io/part-of': 'warden' },
    },
    data: Object.fromEntries(rules.map((file) => [file, readFileSync(join(rulesDir, file), 'utf8')])),
  });
  return manifests;
}

if (import.meta.main) {
  process.stdout.write(
    kubernetesSecrets()
      .map((manifest) => stringify(manifest))
      .join('---\n'),
  );
  for (const s of operatorSecrets)
    process.stderr.write(
      `also needed, from you: Secret ${s.namespace}/${s.name} (${s.keys.join(', ')}); see deploy/README.md\n`,
    );
}
