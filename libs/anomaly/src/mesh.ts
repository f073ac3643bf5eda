import { Feature } from './features.ts';
import { Random } from './random.ts';

/**
 * A labelled synthetic mesh, generated deterministically from a seed: `workloads` workloads
 * with diurnal traffic (each its own rate, error mix, latency and payload sizes) in 1 s windows,
 * and attacks injected at known times in the second half (the first half is attack-free, for
 * training baselines):
 *
 *   port-scan            one workload touches 8–300 more destination ports a second
 *   peer-scan            one workload calls 8–120 more distinct peers a second
 *   exfiltration         bytes out 2–40× the workload's normal, for one to three minutes
 *   credential-stuffing  4–80 requests a second answered 401/403
 *   5xx-storm            10–100 % of the requests (and at least 5–55 a second) answered 5xx
 *   slow-drift           latency doubles to quadruples and errors creep up over 40 minutes (less
 *                        in a short dataset; the LSTM's case: no single second is unusual)
 *
 * Each attack draws an intensity in [0, 1] that places it in those ranges: the weak end is
 * low-and-slow on purpose, below what the streaming rules' absolute thresholds catch.
 *
 * The day is compressed into `dayHours` so that the whole cycle (night trough, daytime peak)
 * fits into the dataset.
 */
export const MeshAttackKind = {
  portScan: 'port-scan',
  peerScan: 'peer-scan',
  exfiltration: 'exfiltration',
  credentialStuffing: 'credential-stuffing',
  storm5xx: '5xx-storm',
  slowDrift: 'slow-drift',
} as const;
export type MeshAttackKind = (typeof MeshAttackKind)[keyof typeof MeshAttackKind];

export type MeshAttack = {
  kind: MeshAttackKind;
  key: string;
  /** First and last second (inclusive) of the attack. */
  start: number;
  end: number;
  /** 0 the weakest, 1 the strongest of its kind. */
  intensity: number;
};

export type MeshDataset = {
  keys: string[];
  seconds: number;
  /** Epoch milliseconds of second 0. */
  startMs: number;
  /** `windows[k][t]`: the 1 s features of key k at second t. */
  windows: Record<string, number>[][];
  attacks: MeshAttack[];
};

export type MeshOptions = {
  seed?: number;
  workloads?: number;
  hours?: number;
  dayHours?: number;
  /** Attacks of each kind. */
  perKind?: number;
};

type Profile = {
  rate: number;
  err4: number;
  err5: number;
  p50: number;
  bytesIn: number;
  bytesOut: number;
  peers: number;
  paths: number;
};

export function generateMeshDataset(options: MeshOptions = {}): MeshDataset {
  const random = new Random(options.seed ?? 1);
  const workloads = options.workloads ?? 20;
  const seconds = Math.round((options.hours ?? 4) * 3600);
  const day = (options.dayHours ?? options.hours ?? 4) * 3600;
  const perKind = options.perKind ?? 5;
  const keys = Array.from({ length: workloads }, (_, i) => `shop/workload-${String(i).padStart(2, '0')}`);
  const profiles: Profile[] = keys.map(() => ({
    rate: 5 + random.next() * 150,
    err4: 0.005 + random.next() * 0.03,
    err5: 0.001 + random.next() * 0.01,
    p50: 5 + random.next() * 60,
    bytesIn: 200 + random.next() * 2000,
    bytesOut: 500 + random.next() * 20_000,
    peers: 2 + random.int(8),
    paths: 3 + random.int(20),
  }));

  // Attacks: spread over the second half, one at a time per workload.
  const attacks: MeshAttack[] = [];
  // The long drifts are placed first: they need a workload with a long free stretch.
  const kinds = [
    MeshAttackKind.slowDrift,
    ...Object.values(MeshAttackKind).filter((k) => k !== 'slow-drift'),
  ];
  const busy = new Map<string, [number, number][]>();
  for (const kind of kinds) {
    for (let n = 0; n < perKind; n++) {
      // A drift takes 40 minutes, or what the second half has room for.
      const length =
        kind === 'slow-drift'
          ? Math.min(2400, Math.floor(seconds / 2) - 180)
          : kind === 'exfiltration'
            ? 60 + random.int(120)
            : 20 + random.int(60);
      let placed = false;
      for (let tries = 0; tries < 1000 && !placed && length > 0; tries++) {
        const key = keys[random.int(workloads)] as string;
        const start =
          Math.floor(seconds / 2) + 60 + random.int(Math.max(1, Math.floor(seconds / 2) - length - 120));
        const end = start + length - 1;
        const taken = busy.get(key) ?? [];
        // Keep five minutes between attacks on one workload, so each is judged on its own.
        if (taken.some(([a, b]) => start <= b + 300 && end >= a - 300)) continue;
        taken.push([start, end]);
        busy.set(key, taken);
        attacks.push({ kind, key, start, end, intensity: random.next() });
        placed = true;
      }
      if (!placed)
        throw new RangeError(
          `no room for ${perKind} attacks of each kind on ${workloads} workloads in ${seconds} s: give more workloads or hours, or fewer attacks`,
        );
    }
  }
  attacks.sort((a, b) => a.start - b.start);

  const windows = keys.map((key, k) => {
    const p = profiles[k] as Profile;
    const mine = attacks.filter((a) => a.key === key);
    const phase = random.next() * 0.1;
    const rows: Record<string, number>[] = [];
    for (let t = 0; t < seconds; t++) {
      const diurnal = 0.25 + 0.75 * (0.5 - 0.5 * Math.cos(2 * Math.PI * (t / day + phase)));
      let requests = random.poisson(p.rate * diurnal);
      let err4 = binomial(random, requests, p.err4);
      let auth = binomial(random, err4, 0.3);
      let err5 = binomial(random, requests, p.err5);
      let latency = p.p50 * Math.exp(0.15 * random.normal());
      let p99 = latency * (3 + random.next() * 2);
      let bytesOut = requests * p.bytesOut * Math.exp(0.2 * random.normal());
      const bytesIn = requests * p.bytesIn * Math.exp(0.2 * random.normal());
      let peers = Math.min(p.peers, requests === 0 ? 0 : 1 + random.poisson(p.peers / 2));
      let ports = requests === 0 ? 0 : 1 + (random.next() < 0.1 ? 1 : 0);
      const paths = Math.min(p.paths, requests === 0 ? 0 : 1 + random.poisson(p.paths / 3));
      let denies = random.poisson(0.02);
      for (const a of mine) {
        if (t < a.start || t > a.end) continue;
        const progress = (t - a.start) / (a.end - a.start + 1);
        switch (a.kind) {
          case 'port-scan':
            ports += random.poisson(8 + a.intensity * 292);
            denies += random.poisson(a.intensity * 20);
            requests += ports;
            break;
          case 'peer-scan':
            peers += random.poisson(8 + a.intensity * 112);
            requests += peers;
            denies += random.poisson(a.intensity * 10);
            break;
          case 'exfiltration':
            bytesOut = bytesOut * (2 + a.intensity * 38) + a.intensity * 2_000_000;
            break;
          case 'credential-stuffing': {
            const tries = random.poisson(4 + a.intensity * 76);
            requests += tries;
            err4 += tries;
            auth += tries;
            break;
          }
          case '5xx-storm':
            err5 = Math.max(
              err5,
              binomial(random, requests, 0.1 + 0.9 * a.intensity),
              random.poisson(5 + a.intensity * 50),
            );
            requests = Math.max(requests, err5);
            break;
          case 'slow-drift':
            latency *= 1 + (1 + 2 * a.intensity) * progress;
            p99 *= 1 + (1 + 3 * a.intensity) * progress;
            err5 += binomial(random, requests, 0.05 * a.intensity * progress);
            break;
        }
      }
      rows.push({
        [Feature.requests]: requests,
        [Feature.errors4xx]: err4,
        [Feature.errors5xx]: err5,
        [Feature.authFailures]: auth,
        [Feature.errorRate]: requests ? err5 / requests : 0,
        [Feature.latencyP50Ms]: latency,
        [Feature.latencyP99Ms]: p99,
        [Feature.bytesIn]: bytesIn,
        [Feature.bytesOut]: bytesOut,
        [Feature.distinctPeers]: peers,
        [Feature.distinctPaths]: paths,
        [Feature.distinctPorts]: ports,
        [Feature.denies]: denies,
      });
    }
    return rows;
  });
  return { keys, seconds, startMs: Date.UTC(2026, 0, 1), windows, attacks };
}

function binomial(random: Random, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (n > 50)
    return Math.max(0, Math.min(n, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * random.normal())));
  let k = 0;
  for (let i = 0; i < n; i++) if (random.next() < p) k++;
  return k;
}

const countFeatures = new Set<string>([
  Feature.requests,
  Feature.errors4xx,
  Feature.errors5xx,
  Feature.authFailures,
  Feature.bytesIn,
  Feature.bytesOut,
  Feature.denies,
]);

/**
 * Folds consecutive 1 s windows into one longer window: counts and bytes add up, latency p50 is
 * the request-weighted mean, p99 the maximum, distinct counts the maximum of the seconds (a lower
 * bound of the true distinct count, which 1 s windows cannot give), and the error rate is
 * recomputed from the sums.
 */
export function foldWindows(seconds: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  let weight = 0;
  let latency = 0;
  for (const w of seconds) {
    for (const [name, value] of Object.entries(w)) {
      if (countFeatures.has(name)) out[name] = (out[name] ?? 0) + value;
      else if (name !== Feature.errorRate && name !== Feature.latencyP50Ms)
        out[name] = Math.max(out[name] ?? 0, value);
    }
    const r = Math.max(1, w[Feature.requests] ?? 0);
    weight += r;
    latency += r * (w[Feature.latencyP50Ms] ?? 0);
  }
  out[Feature.latencyP50Ms] = weight ? latency / weight : 0;
  const requests = out[Feature.requests] ?? 0;
  out[Feature.errorRate] = requests ? (out[Feature.errors5xx] ?? 0) / requests : 0;
  return out;
}
