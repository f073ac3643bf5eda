import { readFile, stat } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { MAX_REPORTED_ISSUES, parseYamlFile } from '@warden/runtime';
import type { PositionOf } from '@warden/runtime';
import { z } from 'zod';
import { StaticFileError } from '../errors.ts';
import type { PositionedIssue } from '../errors.ts';
import type { Snapshot } from './model.ts';
import { emptySnapshot, qualifiedKey, spiffeIdOf, withImpliedNamespaces } from './model.ts';
import type { Log, RegistrySource, SourceSink } from './source.ts';
import { address, dnsLabel, dnsName, labels, port, protocol } from './validation.ts';

const MAX_ENTRIES = 200_000;

const namespaceEntry = z.strictObject({
  name: dnsLabel,
  labels: labels.default({}),
});
const serviceEntry = z.strictObject({
  namespace: dnsLabel,
  name: dnsLabel,
  ports: z
    .array(z.strictObject({ name: z.string().max(63).optional(), port, protocol: protocol.default('tcp') }))
    .max(256)
    .default([]),
  selector: labels.default({}),
  labels: labels.default({}),
});
const workloadEntry = z.strictObject({
  namespace: dnsLabel,
  name: dnsName,
  address,
  port,
  protocol: protocol.default('tcp'),
  serviceAccount: dnsName.default('default'),
  labels: labels.default({}),
  /** Services it backs; when absent, every service in its namespace whose selector matches it. */
  services: z.array(dnsLabel).max(256).optional(),
});
export const staticFileSchema = z.strictObject({
  namespaces: z.array(namespaceEntry).max(MAX_ENTRIES).default([]),
  services: z.array(serviceEntry).max(MAX_ENTRIES).default([]),
  workloads: z.array(workloadEntry).max(MAX_ENTRIES).default([]),
});
type StaticFile = z.infer<typeof staticFileSchema>;

/**
 * Parses and validates a static topology file. Every problem (YAML syntax, schema, duplicate
 * keys, unknown services) is reported at once with its line and column, like a rejected policy.
 */
export function parseStaticFile(text: string, file: string, trustDomain: string): Snapshot {
  const parsed = parseYamlFile(text, staticFileSchema);
  if (!parsed.ok) throw new StaticFileError(file, parsed.issues);
  return toSnapshot(parsed.data, trustDomain, file, parsed.positionOf);
}

function toSnapshot(data: StaticFile, trustDomain: string, file: string, positionOf: PositionOf): Snapshot {
  const snapshot = emptySnapshot();
  const issues: PositionedIssue[] = [];
  const duplicate = (section: string, index: number, key: string): void => {
    issues.push({
      path: `${section}.${index}`,
      message: `duplicate ${key}`,
      ...positionOf([section, index]),
    });
  };
  data.namespaces.forEach((ns, i) => {
    if (snapshot.namespaces.has(ns.name)) duplicate('namespaces', i, ns.name);
    snapshot.namespaces.set(ns.name, { name: ns.name, labels: ns.labels, serviceAccounts: [] });
  });
  const servicesByNamespace = new Map<string, StaticFile['services']>();
  data.services.forEach((svc, i) => {
    const key = qualifiedKey(svc.namespace, svc.name);
    if (snapshot.services.has(key)) duplicate('services', i, `service ${key}`);
    snapshot.services.set(key, { ...svc, ports: svc.ports.map((p) => ({ ...p })) });
    const list = servicesByNamespace.get(svc.namespace) ?? [];
    list.push(svc);
    servicesByNamespace.set(svc.namespace, list);
  });
  data.workloads.forEach((w, i) => {
    const key = qualifiedKey(w.namespace, w.name);
    if (snapshot.workloads.has(key)) duplicate('workloads', i, `workload ${key}`);
    const candidates = servicesByNamespace.get(w.namespace) ?? [];
    let services: string[];
    if (w.services) {
      services = w.services;
      w.services.forEach((name, j) => {
        if (!snapshot.services.has(qualifiedKey(w.namespace, name)))
          issues.push({
            path: `workloads.${i}.services.${j}`,
            message: `unknown service ${w.namespace}/${name}`,
            ...positionOf(['workloads', i, 'services', j]),
          });
      });
    } else {
      services = candidates.filter((s) => selects(s.selector, w.labels)).map((s) => s.name);
    }
    snapshot.workloads.set(key, {
      namespace: w.namespace,
      name: w.name,
      address: w.address,
      port: w.port,
      protocol: w.protocol,
      labels: w.labels,
      serviceAccount: w.serviceAccount,
      spiffeId: spiffeIdOf(trustDomain, w.namespace, w.serviceAccount),
      services: [...new Set(services)].sort(),
    });
  });
  if (issues.length > 0) throw new StaticFileError(file, issues.slice(0, MAX_REPORTED_ISSUES));
  return withImpliedNamespaces(snapshot);
}

/** A Kubernetes-style equality selector; an empty one selects nothing (as for a Service). */
export function selects(selector: Record<string, string>, target: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => target[k] === v);
}

export type StaticSourceOptions = {
  file: string;
  trustDomain: string;
  sink: SourceSink;
  log: Log;
  /** Refuses files larger than this, before reading them. */
  maxBytes: number;
  /** How often to check the file for changes; 0 turns reloading off. */
  pollMs: number;
  onRejected?(error: StaticFileError | Error): void;
};

/**
 * The static YAML file as a registry source. Loaded at start (an invalid file stops the service
 * from starting, with every position reported); then polled, and a changed file is reloaded. A
 * reload that fails keeps the last good view, like a rejected policy never replaces a good one.
 */
export class StaticFileSource implements RegistrySource {
  readonly name = 'static' as const;
  private readonly options: StaticSourceOptions;
  private lastMtime = 0;
  private reloading: Promise<void> = Promise.resolve();

  constructor(options: StaticSourceOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    await this.load();
    if (this.options.pollMs > 0) {
      // Polling stat() rather than fs.watch: editors and ConfigMap mounts replace the file by
      // rename, which an inotify watch on the old inode never sees.
      watchFile(this.options.file, { interval: this.options.pollMs, persistent: false }, (curr) => {
        if (curr.mtimeMs === this.lastMtime) return;
        this.reloading = this.reloading.then(() => this.reload());
      });
    }
  }

  async stop(): Promise<void> {
    unwatchFile(this.options.file);
    await this.reloading;
  }

  /** Re-reads the file now; a bad file is logged and counted and the last good view stays. */
  async reload(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.options.onRejected?.(err instanceof Error ? err : new Error(String(err)));
      this.options.log.error(
        { err, file: this.options.file },
        'static topology file rejected; keeping the last good one',
      );
    }
  }

  private async load(): Promise<void> {
    const { file, maxBytes, trustDomain } = this.options;
    const info = await stat(file);
    if (info.size > maxBytes)
      throw new StaticFileError(file, [
        { path: '', message: `file is ${info.size} bytes; the limit is ${maxBytes}` },
      ]);
    const text = await readFile(file, 'utf8');
    const snapshot = parseStaticFile(text, file, trustDomain);
    this.lastMtime = info.mtimeMs;
    const changes = this.options.sink.replace(snapshot);
    this.options.log.info(
      { file, workloads: snapshot.workloads.size, services: snapshot.services.size, changes: changes.length },
      'static topology file loaded',
    );
  }
}
