import type { Engine } from '@warden/policy-engine';
import type { Logger } from '@warden/runtime';
import type { ContainmentStore } from './containment-store.ts';
import { nextExpiry } from './containment-rbac.ts';
import type { MeshRegistry } from './mesh-registry.ts';
import type { AdsHub, EnvoySettings } from './xds.ts';
import { buildResources } from './xds.ts';

/**
 * Rebuilds the ADS snapshot when the policy revision, the containment rules or the registry
 * change, or a containment rule expires, checking once per debounce window: a burst of changes
 * becomes one push, and every change reaches the data planes within one window plus the build.
 */
export function publishXds(options: {
  hub: AdsHub;
  engine: Engine;
  containment: ContainmentStore;
  registry: MeshRegistry;
  trustDomain: string;
  envoy: EnvoySettings;
  debounceMs: number;
  log: Logger;
  built: (seconds: number) => void;
}): { stop(): void } {
  const { hub, engine, containment, registry, log } = options;
  let last: unknown[] = [];
  let expiresAt: number | undefined;
  let version = 0;
  let busy = false;
  const tick = async (): Promise<void> => {
    if (registry.stale) await registry.refresh();
    const now = new Date();
    const key = [engine.current, containment.version, registry.version];
    const expired = expiresAt !== undefined && now.getTime() >= expiresAt;
    if (!expired && key.every((k, i) => k === last[i])) return;
    const started = process.hrtime.bigint();
    const rules = containment.active(now);
    const resources = buildResources(
      { workloads: registry.workloads, revision: engine.current, containment: rules },
      options.trustDomain,
      now,
      options.envoy,
      log,
    );
    last = key;
    expiresAt = nextExpiry(rules, now);
    version++;
    hub.publish(resources, `${engine.current.revision}.${version}`);
    options.built(Number(process.hrtime.bigint() - started) / 1e9);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    tick()
      .catch((err: unknown) => log.error({ err }, 'xDS snapshot not built; data planes keep the last one'))
      .finally(() => {
        busy = false;
      });
  }, options.debounceMs);
  return { stop: () => clearInterval(timer) };
}
