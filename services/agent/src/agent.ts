import { unwatchFile, watchFile } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, codeOf, messageOf } from '@warden/core';
import type { DataOf, Envelope, RunningConsumer } from '@warden/events';
import { caBundle, identityBundle, identityEntry, identityRevoked } from '@warden/events';
import { normaliseSerial, parseCertificates } from '@warden/pki';
import type { ServiceContext, Started } from '@warden/runtime';
import { ConfigError } from '@warden/runtime';
import { auditTo } from './audit.ts';
import type { AgentConfig } from './config.ts';
import type { CrlTrust } from './crl.ts';
import { CrlRefresher } from './crl-refresher.ts';
import type { Entry, EntryDefaults } from './entries.ts';
import { entryFromEvent, MAX_ENTRIES, parseEntriesFile } from './entries.ts';
import { BundleError, EntriesFileError, InvalidEntryError } from './errors.ts';
import { readSmallFile } from './files.ts';
import { createAgentMetrics } from './metrics.ts';
import { SdsServer } from './sds-server.ts';
import { Store } from './store.ts';
import type { Bundle, Svid } from './svid.ts';
import { Workload } from './workload.ts';

/** Reads and validates the entries file; an invalid one stops the agent with every position. */
async function loadEntriesFile(file: string, maxBytes: number, defaults: EntryDefaults): Promise<Entry[]> {
  let text: string | null;
  try {
    text = await readSmallFile(file, maxBytes);
  } catch (err) {
    throw new EntriesFileError(file, [{ path: '', message: messageOf(err) }]);
  }
  if (text === null) throw new EntriesFileError(file, [{ path: '', message: 'the file does not exist' }]);
  return parseEntriesFile(text, file, defaults);
}

/**
 * The per-host identity agent (DESIGN §1, §3): registration entries from a file and from events,
 * one `Workload` per entry (keys made here, SVIDs from the CA, cached, rotated, revoked), the
 * trust bundle, Envoy SDS on a Unix socket and PEM files for file-watching consumers.
 */
export async function startAgent(ctx: ServiceContext<AgentConfig>): Promise<Started> {
  const { config, bus, log } = ctx;
  const dir = resolve(config.WARDEN_AGENT_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The folder holds private keys: whatever it was created with, only the agent may enter it.
  await chmod(dir, 0o700);
  const store = new Store(dir);
  const defaults: EntryDefaults = {
    trustDomain: config.WARDEN_TRUST_DOMAIN,
    workloadsDir: join(dir, 'workloads'),
    keyAlgorithm: config.WARDEN_AGENT_KEY_ALGORITHM,
    ttlSeconds: config.WARDEN_AGENT_SVID_TTL_SECONDS,
  };
  const backoff = {
    initialMs: config.WARDEN_AGENT_RETRY_INITIAL_MS,
    maxMs: config.WARDEN_AGENT_RETRY_MAX_MS,
  };
  // A cross-field rule, so checked here; it reads like every other configuration error.
  if (backoff.initialMs > backoff.maxMs)
    throw new ConfigError('agent', [
      'WARDEN_AGENT_RETRY_INITIAL_MS: must not exceed WARDEN_AGENT_RETRY_MAX_MS',
    ]);

  let fileEntries = config.WARDEN_AGENT_ENTRIES_FILE
    ? await loadEntriesFile(config.WARDEN_AGENT_ENTRIES_FILE, config.WARDEN_AGENT_ENTRIES_MAX_BYTES, defaults)
    : [];
  const eventEntries = new Map<string, Entry>();
  for (const entry of await store.loadEventEntries().catch((err: unknown) => {
    log.error({ err }, 'stored event entries unreadable; waiting for new entry events');
    return [];
  }))
    eventEntries.set(entry.spiffeId, entry);

  let bundle: Bundle | null = await store.loadBundle().catch(() => null);
  if (bundle && bundle.trustDomain !== config.WARDEN_TRUST_DOMAIN) bundle = null;

  const workloads = new Map<string, Workload>();
  const held = function* (): Iterable<Svid> {
    for (const w of workloads.values()) if (w.svid) yield w.svid;
  };
  let crl: CrlRefresher | undefined;
  const metrics = createAgentMetrics(ctx.registry, held, () => crl?.current?.thisUpdate ?? null);
  const audit = auditTo(bus, ctx.instance, log);
  let sds: SdsServer | undefined;
  let stopped = false;

  /** Takes a bundle from the CA or an event: same trust domain, readable roots, never older. */
  const acceptBundle = async (next: Bundle): Promise<void> => {
    if (next.trustDomain !== config.WARDEN_TRUST_DOMAIN)
      throw new BundleError(`bundle for ${next.trustDomain}, not ${config.WARDEN_TRUST_DOMAIN}`);
    try {
      parseCertificates(next.rootsPem, 'trust bundle', { maxBytes: 1024 * 1024, maxBlocks: 16 });
    } catch (err) {
      throw new BundleError(`unreadable roots: ${messageOf(err)}`);
    }
    if (bundle && next.sequence < bundle.sequence) return;
    if (
      bundle &&
      next.sequence === bundle.sequence &&
      next.rootsPem.join('\n') === bundle.rootsPem.join('\n')
    )
      return;
    bundle = { trustDomain: next.trustDomain, sequence: next.sequence, rootsPem: [...next.rootsPem] };
    log.info({ sequence: bundle.sequence, roots: bundle.rootsPem.length }, 'trust bundle updated');
    await store.saveBundle(bundle).catch((err: unknown) => log.error({ err }, 'could not cache the bundle'));
    for (const w of workloads.values()) w.bundleChanged(bundle);
    sds?.notify();
  };

  let fetching: Promise<Bundle> | undefined;
  const fetchBundle = (): Promise<Bundle> => {
    fetching ??= bus
      .request(caBundle, {}, { timeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS })
      .then(async (reply) => {
        await acceptBundle(reply);
        if (!bundle) throw new BundleError('no bundle');
        // The CRL is checked against the bundle: with the first one, refreshing can begin.
        crl?.start();
        return bundle;
      })
      .catch((err: unknown) => {
        metrics.caFailures.inc({ code: codeOf(err) });
        throw err;
      })
      .finally(() => {
        fetching = undefined;
      });
    return fetching;
  };

  const deps = {
    bus,
    store,
    log,
    metrics,
    rotation: { ratio: config.WARDEN_AGENT_ROTATION_RATIO, jitter: config.WARDEN_AGENT_ROTATION_JITTER },
    backoff,
    caTimeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS,
    bundle: () => (bundle ? Promise.resolve(bundle) : fetchBundle()),
    currentBundle: () => bundle,
    currentCrl: () => crl?.current?.pem ?? null,
    changed: () => sds?.notify(),
    audit,
  };

  /** A CRL counts if the bundle's roots or the intermediates of SVIDs held (checked when taken) signed it. */
  const crlTrust = (): CrlTrust | null => {
    if (!bundle) return null;
    const intermediates = new Set<string>();
    for (const svid of held()) for (const pem of svid.chainPem.slice(1)) intermediates.add(pem);
    return { trustDomain: bundle.trustDomain, roots: bundle.rootsPem, intermediates: [...intermediates] };
  };
  const crlUrl = config.WARDEN_AGENT_CRL_URL;
  if (crlUrl)
    crl = new CrlRefresher({
      url: crlUrl,
      refreshMs: config.WARDEN_AGENT_CRL_REFRESH_MS,
      timeoutMs: config.WARDEN_AGENT_CA_TIMEOUT_MS,
      backoff,
      trust: crlTrust,
      changed: (next) => {
        for (const w of workloads.values()) w.crlChanged(next.pem);
      },
      failed: (err) =>
        audit({
          action: 'agent.crl.refresh',
          target: crlUrl,
          outcome: 'failure',
          details: { code: err.code, message: err.message },
        }),
      metrics,
      log,
    });

  /** File entries, then event entries (an event may not take a name a file entry uses). */
  const desired = (): Map<string, Entry> => {
    const all = new Map<string, Entry>();
    for (const e of fileEntries) all.set(e.spiffeId, e);
    for (const e of eventEntries.values()) if (!all.has(e.spiffeId)) all.set(e.spiffeId, e);
    return all;
  };

  let reconciling: Promise<void> = Promise.resolve();
  const reconcile = (): Promise<void> => {
    reconciling = reconciling.then(async () => {
      const want = desired();
      const starts: Promise<void>[] = [];
      for (const [id, w] of workloads) {
        if (want.has(id)) continue;
        workloads.delete(id);
        log.info({ spiffeId: id }, 'entry removed; dropping its identity');
        starts.push(w.remove());
      }
      for (const [id, entry] of want) {
        const w = workloads.get(id);
        if (w) {
          if (w.entry !== entry) w.update(entry);
          continue;
        }
        const created = new Workload(entry, deps);
        workloads.set(id, created);
        starts.push(created.start());
      }
      await Promise.all(starts);
    });
    return reconciling;
  };

  const onEntry = async (event: Envelope<DataOf<typeof identityEntry>>): Promise<void> => {
    const data = event.data;
    if (data.host !== config.WARDEN_AGENT_HOST) return;
    if (data.op === 'delete') {
      if (!eventEntries.delete(data.spiffeId)) return;
    } else {
      let entry: Entry;
      try {
        entry = entryFromEvent(data, defaults);
        const clash = [...desired().values()].find(
          (e) => e.name === entry.name && e.spiffeId !== entry.spiffeId,
        );
        if (clash) throw new InvalidEntryError(`name ${entry.name} is already used by ${clash.spiffeId}`);
        if (!eventEntries.has(entry.spiffeId) && eventEntries.size >= MAX_ENTRIES)
          throw new InvalidEntryError(`this host already has ${MAX_ENTRIES} entries from events`);
        if (fileEntries.some((e) => e.spiffeId === entry.spiffeId))
          throw new InvalidEntryError(
            `${entry.spiffeId} is defined in the entries file, which takes precedence`,
          );
      } catch (err) {
        // An unusable entry is acknowledged and logged: redelivering it would never make it valid.
        log.warn({ err, spiffeId: data.spiffeId, eventId: event.id }, 'ignored a registration entry');
        return;
      }
      eventEntries.set(entry.spiffeId, entry);
    }
    await store.saveEventEntries([...eventEntries.values()]);
    await reconcile();
  };

  const onRevoked = async (event: Envelope<DataOf<typeof identityRevoked>>): Promise<void> => {
    const serials = new Set(event.data.serials.map(normaliseSerial));
    const time = new Date(event.time);
    // Peers reading crl.pem refuse the certificate once the CA's CRL lists it: fetch at once.
    crl?.revoked(serials, time);
    await Promise.all([...workloads.values()].map((w) => w.revoke(serials, event.data.spiffeId, time)));
  };

  const onBundle = async (event: Envelope<DataOf<typeof identityBundle>>): Promise<void> => {
    try {
      await acceptBundle(event.data);
    } catch (err) {
      log.warn({ err, eventId: event.id }, 'ignored a trust bundle event');
      return;
    }
    // The CA publishes the bundle when its generations change, and a new root's or intermediate's
    // CRL must be in crl.pem before leaves chain to it (CRL-checking peers refuse them otherwise):
    // every event fetches at once, even one whose roots the agent already has (an intermediate
    // rotation keeps the roots). The first bundle starts the refreshing.
    crl?.fetchNow();
  };

  await reconcile();

  // Polling stat() rather than fs.watch: editors and ConfigMap mounts replace the file by rename,
  // which an inotify watch on the old inode never sees. A changed file that is invalid is logged
  // and ignored: the last good entries stay, as a rejected policy never replaces a good one.
  const entriesPath = config.WARDEN_AGENT_ENTRIES_FILE;
  if (entriesPath && config.WARDEN_AGENT_ENTRIES_POLL_MS > 0) {
    let reloading = Promise.resolve();
    watchFile(entriesPath, { interval: config.WARDEN_AGENT_ENTRIES_POLL_MS, persistent: false }, () => {
      reloading = reloading.then(async () => {
        if (stopped) return;
        try {
          fileEntries = await loadEntriesFile(entriesPath, config.WARDEN_AGENT_ENTRIES_MAX_BYTES, defaults);
          log.info({ entries: fileEntries.length }, 'entries file reloaded');
          await reconcile();
        } catch (err) {
          log.error({ err }, 'entries file change refused; keeping the last good entries');
        }
      });
    });
  }

  if (config.WARDEN_AGENT_SDS_SOCKET) {
    sds = await SdsServer.start(
      resolve(config.WARDEN_AGENT_SDS_SOCKET),
      {
        bundle: () => bundle,
        certificateFor: (nodeId) => {
          const list = [...workloads.values()];
          const byName = nodeId ? list.find((w) => w.entry.name === nodeId) : undefined;
          const chosen = byName ?? (list.length === 1 ? list[0] : undefined);
          return chosen?.svid ?? null;
        },
      },
      log,
    );
  }

  // One durable consumer per host and event type: every agent sees every revocation and bundle
  // (a shared durable would hand each event to one agent only), and a restarted agent resumes
  // where it stopped, so a revocation published while it was down still reaches it. Until the CA
  // has created the identity stream the bus waits for it in the background: boot order does not matter.
  const consumers: RunningConsumer[] = [];
  const durable = (what: string): string => `agent-${config.WARDEN_AGENT_HOST}-${what}`;
  consumers.push(
    await bus.consume(identityRevoked, onRevoked, { durable: durable('revoked'), deliver: 'all' }),
  );
  consumers.push(await bus.consume(identityEntry, onEntry, { durable: durable('entry'), deliver: 'all' }));
  consumers.push(await bus.consume(identityBundle, onBundle, { durable: durable('bundle'), deliver: 'new' }));
  void Promise.all(consumers.map((c) => c.attached)).then(() => log.info('consuming identity events'));
  if (bundle) crl?.start();

  // Without a cached bundle, fetch one in the background (a CA that is down must not keep the
  // agent from serving what it holds). With one, a restart asks the CA nothing: the bundle
  // consumer resumes where it stopped and delivers any change made meanwhile.
  const abort = new AbortController();
  const bundleLoop = (async () => {
    for (let attempt = 1; !stopped && !bundle; attempt++) {
      try {
        await fetchBundle();
        return;
      } catch (err) {
        if (stopped) return;
        log.warn({ err, attempt }, 'could not fetch the trust bundle; retrying');
        await sleep(backoffDelay(attempt, backoff), undefined, { signal: abort.signal }).catch(
          () => undefined,
        );
      }
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      abort.abort();
      if (entriesPath) unwatchFile(entriesPath);
      await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
      await crl?.stop();
      await reconciling.catch(() => undefined);
      await Promise.all([...workloads.values()].map((w) => w.stop()));
      await sds?.stop();
      await fetching?.catch(() => undefined);
      await bundleLoop;
    },
  };
}
