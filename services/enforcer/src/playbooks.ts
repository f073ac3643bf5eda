import type { alert, DataOf, enforceDeny, enforceQuarantine, Envelope } from '@warden/events';
import { describeFileIssues, parseYamlFile } from '@warden/runtime';
import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

const side = z.enum(['source', 'target']);
const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const playbook = z
  .object({
    name: z.string().regex(DNS_LABEL, 'a DNS-1123 label'),
    match: z
      .object({
        rule: oneOrMany.optional(),
        severity: z
          .array(z.enum(['critical', 'warning', 'info']))
          .min(1)
          .optional(),
        labels: z.record(z.string(), z.string()).optional(),
        /** The alert's `score` label, read as a number, at least this. */
        minScore: z.number().min(0).max(1).optional(),
      })
      .strict(),
    action: z.union([
      z
        .object({ quarantine: side, ttl: z.string().regex(DURATION, 'a duration like 90s, 15m, 1h') })
        .strict(),
      z
        .object({
          deny: z.object({ from: side, to: side }).strict(),
          ttl: z.string().regex(DURATION, 'a duration like 90s, 15m, 1h'),
        })
        .strict(),
    ]),
    /** Only report what it would do (an audit event), change nothing. */
    dryRun: z.boolean().default(false),
  })
  .strict();

const playbookFile = z.object({ playbooks: z.array(playbook).max(1000) }).strict();

export type Playbook = z.infer<typeof playbook>;

export class PlaybookError extends Error {}

/** Parses and validates a playbook file; every problem is named with its line and column. */
export function parsePlaybooks(text: string, file: string): Playbook[] {
  const parsed = parseYamlFile(text, playbookFile);
  if (!parsed.ok) throw new PlaybookError(describeFileIssues('invalid playbooks:', file, parsed.issues));
  const names = new Set<string>();
  for (const p of parsed.data.playbooks) {
    if (names.has(p.name)) throw new PlaybookError(`${file}: playbook ${p.name} is defined twice`);
    names.add(p.name);
    const seconds = ttlSeconds(p.action.ttl);
    if (seconds < 1 || seconds > 30 * 86_400)
      throw new PlaybookError(`${file}: ${p.name}: ttl must be 1s to 30d`);
  }
  return parsed.data.playbooks;
}

const ttlSeconds = (ttl: string): number => {
  const m = DURATION.exec(ttl);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS] : 0;
};

type Alert = Envelope<DataOf<typeof alert>>;
type Workload = { workload: { namespace: string; workload: string } };

export type PlannedAction =
  | { playbook: string; dryRun: boolean; event: 'quarantine'; data: DataOf<typeof enforceQuarantine> }
  | { playbook: string; dryRun: boolean; event: 'deny'; data: DataOf<typeof enforceDeny> };

/** The alert's workload, or the source it names in `source_namespace` / `source_workload` labels. */
function workloadOf(which: 'source' | 'target', a: Alert): Workload | undefined {
  if (which === 'target') return { workload: { ...a.data.target } };
  const namespace = a.data.labels['source_namespace'];
  const workload = a.data.labels['source_workload'];
  return namespace && workload && DNS_LABEL.test(namespace)
    ? { workload: { namespace, workload } }
    : undefined;
}

function matches(p: Playbook, a: Alert): boolean {
  const m = p.match;
  if (a.data.status !== 'firing') return false;
  if (m.rule !== undefined && !(Array.isArray(m.rule) ? m.rule : [m.rule]).includes(a.data.rule))
    return false;
  if (m.severity && !m.severity.includes(a.data.severity)) return false;
  for (const [k, v] of Object.entries(m.labels ?? {})) if (a.data.labels[k] !== v) return false;
  if (m.minScore !== undefined) {
    const score = Number(a.data.labels['score']);
    if (!Number.isFinite(score) || score < m.minScore) return false;
  }
  return true;
}

/**
 * What the playbooks do about one alert: for each that matches a firing alert, a quarantine or an
 * edge deny with the alert's id. A playbook whose action needs a side the alert does not name
 * (no `source_*` labels) does nothing for it.
 */
export function plan(playbooks: readonly Playbook[], a: Alert): PlannedAction[] {
  const out: PlannedAction[] = [];
  for (const p of playbooks) {
    if (!matches(p, a)) continue;
    const ttl = ttlSeconds(p.action.ttl);
    const reason = `playbook ${p.name}: ${a.data.summary}`.slice(0, 4096);
    if ('quarantine' in p.action) {
      const target = workloadOf(p.action.quarantine, a);
      if (!target) continue;
      out.push({
        playbook: p.name,
        dryRun: p.dryRun,
        event: 'quarantine',
        data: { target, ttlSeconds: ttl, reason, alertId: a.data.alertId },
      });
    } else {
      const source = workloadOf(p.action.deny.from, a);
      const destination = workloadOf(p.action.deny.to, a);
      if (!source || !destination) continue;
      out.push({
        playbook: p.name,
        dryRun: p.dryRun,
        event: 'deny',
        data: {
          ruleId: `playbook:${p.name}:${a.data.alertId}`.slice(0, 128),
          source,
          destination,
          ttlSeconds: ttl,
          reason,
          alertId: a.data.alertId,
        },
      });
    }
  }
  return out;
}
