import { CaStateError } from './errors.ts';
import type { IntermediateGeneration, RootGeneration, TrustDomainMaterial } from './material.ts';

export type Bundle = {
  readonly trustDomain: string;
  readonly sequence: number;
  readonly rootsPem: string[];
};

/**
 * The running CA's view of its generations over time. Issuing uses the intermediate activated
 * last; an older one retires when its successor activates, and stays trusted (its root in the
 * bundle, its CRL published) until every leaf it may have signed has expired: retirement plus
 * the maximum leaf TTL. A root leaves the bundle when none of its intermediates is still live.
 */
export class TrustDomain {
  #material: TrustDomainMaterial;
  /** The intermediates in the order they take over issuing: sorted once per manifest, not per SVID. */
  #inActivationOrder: IntermediateGeneration[];
  readonly #maxLeafTtlMs: number;

  constructor(material: TrustDomainMaterial, maxLeafTtlSeconds: number) {
    this.#material = material;
    this.#inActivationOrder = activationOrder(material);
    this.#maxLeafTtlMs = maxLeafTtlSeconds * 1000;
  }

  get trustDomain(): string {
    return this.#material.trustDomain;
  }

  get algorithm(): TrustDomainMaterial['algorithm'] {
    return this.#material.algorithm;
  }

  get material(): TrustDomainMaterial {
    return this.#material;
  }

  /** Takes the generations of a newer manifest (a rotation); the trust domain cannot change. */
  replace(material: TrustDomainMaterial): void {
    if (material.trustDomain !== this.#material.trustDomain)
      throw new CaStateError(
        `the manifest now names ${material.trustDomain}, not ${this.#material.trustDomain}`,
      );
    this.#material = material;
    this.#inActivationOrder = activationOrder(material);
  }

  /** The intermediate that signs now: the last activated (the first one if, oddly, none has). */
  active(now = Date.now()): IntermediateGeneration {
    const ordered = this.#inActivationOrder;
    let active = ordered[0];
    for (const i of ordered) if (i.activateAt.getTime() <= now) active = i;
    if (!active) throw new CaStateError('a trust domain without an intermediate');
    return active;
  }

  /** When each intermediate stopped issuing (its successor's activation), if it has. */
  #retiredAt(now: number): Map<number, number> {
    const ordered = this.#inActivationOrder;
    const retired = new Map<number, number>();
    for (let k = 0; k + 1 < ordered.length; k++) {
      const successor = ordered[k + 1];
      const i = ordered[k];
      if (i && successor && successor.activateAt.getTime() <= now)
        retired.set(i.id, successor.activateAt.getTime());
    }
    return retired;
  }

  /**
   * Intermediates whose leaves may still be in use, or that will issue: not expired, and not
   * retired for longer than a leaf lives.
   */
  liveIntermediates(now = Date.now()): IntermediateGeneration[] {
    const retired = this.#retiredAt(now);
    return this.#material.intermediates.filter((i) => {
      if (i.notAfter.getTime() <= now) return false;
      const at = retired.get(i.id);
      return at === undefined || at + this.#maxLeafTtlMs > now;
    });
  }

  /**
   * Intermediates that no longer sign and whose every leaf has expired, but that would still
   * chain to a trusted root until their own expiry (a year): their roots' CRLs list them, so a
   * peer that checks CRLs refuses anything a leaked retired key signs. `since` is when the last
   * of their leaves expired.
   */
  withdrawnIntermediates(now = Date.now()): { intermediate: IntermediateGeneration; since: Date }[] {
    const retired = this.#retiredAt(now);
    return this.#material.intermediates.flatMap((i) => {
      const at = retired.get(i.id);
      if (at === undefined || i.notAfter.getTime() <= now || at + this.#maxLeafTtlMs > now) return [];
      return [{ intermediate: i, since: new Date(at + this.#maxLeafTtlMs) }];
    });
  }

  /** Roots verifiers must trust now: those of live intermediates (incoming ones included). */
  bundleRoots(now = Date.now()): RootGeneration[] {
    const live = new Set(this.liveIntermediates(now).map((i) => i.root));
    return this.#material.roots.filter((r) => live.has(r.id) && r.notAfter.getTime() > now);
  }

  /** The bundle; its sequence grows with every root added (manifest) and every root dropped. */
  bundle(now = Date.now()): Bundle {
    const roots = this.bundleRoots(now);
    const dropped = this.#material.roots.length - roots.length;
    return {
      trustDomain: this.#material.trustDomain,
      sequence: this.#material.bundleSequence + dropped,
      rootsPem: roots.map((r) => r.pem),
    };
  }
}

function activationOrder(material: TrustDomainMaterial): IntermediateGeneration[] {
  return [...material.intermediates].sort(
    (a, b) => a.activateAt.getTime() - b.activateAt.getTime() || a.id - b.id,
  );
}
