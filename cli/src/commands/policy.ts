import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { messageOf } from '@warden/core';
import {
  MAX_POLICY_TEXT_BYTES,
  policyCommitted,
  policyRejected,
  policyStatus,
  policySubmit,
  topologyQuery,
} from '@warden/events';
import type { Bus, DataOf } from '@warden/events';
import { buildRevision, PolicyStore } from '@warden/policy-store';
import {
  analyzePolicies,
  BundleKind,
  checkEquivalence,
  declaredKind,
  formatAuthorizationPolicies,
  minimizePolicies,
  parseAuthorizationPolicies,
  policyFileExtensions,
  suggestPolicies,
  UnknownKindError,
} from '@warden/policy-engine';
import type {
  AuthorizationPolicy,
  AuthzRequest,
  KnownWorkload,
  ObservedEdge,
  SuggestWorkload,
} from '@warden/policy-engine';
import type { Command, CommandContext } from '../command.ts';
import { UsageError } from '../command.ts';
import { table } from '../table.ts';

type Submission = DataOf<typeof policySubmit>;
type Outcome = { committed: DataOf<typeof policyCommitted> } | { rejected: DataOf<typeof policyRejected> };

/** The policy files under a path: .yaml/.yml and .rego, in name order. */
function policyFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new UsageError(`no such file or directory: ${path}`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => policyFileExtensions.includes(extname(f)))
    .sort()
    .map((f) => join(path, f));
}

/**
 * A file as a submission of the kind it declares: `.rego`, or the YAML's `kind:`
 * (AuthorizationPolicy or MeshDefaults). A file that declares no kind Warden knows is refused here.
 */
function submissionFor(
  file: string,
  options: { dryRun: boolean; entrypoint?: string; namespace: string },
): Submission {
  const text = readFileSync(file, 'utf8');
  if (Buffer.byteLength(text) > MAX_POLICY_TEXT_BYTES) {
    throw new UsageError(
      `${file} is ${Buffer.byteLength(text)} bytes; one submission holds at most ${MAX_POLICY_TEXT_BYTES}: split it`,
    );
  }
  let kind: BundleKind;
  try {
    kind = declaredKind(file, text);
  } catch (err) {
    if (err instanceof UnknownKindError) throw new UsageError(err.message);
    throw err;
  }
  const common = { text, file: basename(file), dryRun: options.dryRun };
  if (kind === BundleKind.rego)
    return { kind, ...common, ...(options.entrypoint ? { entrypoint: options.entrypoint } : {}) };
  // As kubectl: a policy without metadata.namespace goes to the namespace of `-n`.
  if (kind === BundleKind.authorizationPolicy) return { kind, ...common, namespace: options.namespace };
  return { kind, ...common };
}

/** Publishes a submission and waits for the policy service's verdict on it. */
async function submitAndWait(bus: Bus, data: Submission, timeoutMs: number): Promise<Outcome> {
  const id = randomUUID();
  let settle: (o: Outcome) => void = () => undefined;
  const outcome = new Promise<Outcome>((resolveOutcome) => (settle = resolveOutcome));
  const subs = [
    bus.subscribe(policyCommitted, (e) => {
      if (e.data.submissionId === id) settle({ committed: e.data });
    }),
    bus.subscribe(policyRejected, (e) => {
      if (e.data.submissionId === id) settle({ rejected: e.data });
    }),
  ];
  try {
    await bus.nc.flush();
    await bus.publish(policySubmit, data, { id });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no verdict from the policy service within ${timeoutMs} ms; is it running?`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([outcome, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    for (const s of subs) s.unsubscribe();
  }
}

function report(ctx: CommandContext, file: string, outcome: Outcome): boolean {
  if ('committed' in outcome) {
    const c = outcome.committed;
    if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ file, ...c })}\n`);
    else {
      const changed = c.keys.length ? c.keys.join(', ') : 'no change';
      ctx.io.out(`${file}: committed revision ${c.revision}${c.dryRun ? ' (dry run)' : ''}: ${changed}\n`);
    }
    return true;
  }
  if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ file, ...outcome.rejected })}\n`);
  for (const r of outcome.rejected.reasons) {
    ctx.io.err(`${r.file ?? file}:${r.line ?? 1}:${r.column ?? 1}: ${r.message}\n`);
  }
  return false;
}

const timeoutOption = { timeout: { type: 'string', default: '60' } } as const;
const seconds = (values: Record<string, unknown>): number => {
  const s = Number(values['timeout']);
  if (!(s > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  return s * 1000;
};

/**
 * The AuthorizationPolicies to analyse: from local files (-f, no server needed) or from a stored
 * revision (the active one by default).
 */
async function policiesFrom(
  ctx: CommandContext,
  values: Record<string, unknown>,
): Promise<AuthorizationPolicy[]> {
  const path = values['file'];
  if (typeof path === 'string') {
    const policies: AuthorizationPolicy[] = [];
    for (const file of policyFiles(path).filter((f) => extname(f) !== '.rego')) {
      const { policies: parsed, issues } = parseAuthorizationPolicies(readFileSync(file, 'utf8'));
      if (issues.length > 0) {
        const first = issues[0];
        throw new UsageError(
          `${file}:${first?.line}:${first?.column}: ${first?.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
        );
      }
      policies.push(...parsed);
    }
    return policies;
  }
  const store = await PolicyStore.open(await ctx.nc());
  const revision =
    values['revision'] === undefined ? await store.activeRevision() : Number(values['revision']);
  const manifest = await store.getManifest(revision);
  if (!manifest) throw new UsageError(`revision ${revision} does not exist`);
  return [...(await buildRevision(store, manifest)).policies];
}

/**
 * Known workloads for the selector, plaintext and TCP-port checks, from a YAML list of
 * {namespace, labels, plaintext, tcpPorts, httpPorts}.
 */
function workloadsFrom(values: Record<string, unknown>): KnownWorkload[] | undefined {
  const file = values['workloads'];
  if (typeof file !== 'string') return undefined;
  const list = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(list))
    throw new UsageError(`${file} must be a YAML list of {namespace, labels, plaintext}`);
  return list as KnownWorkload[];
}

/** `90s`, `30m`, `24h`, `7d` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError(`${JSON.stringify(text)} is not a duration like 30m, 24h or 7d`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** Every page of a topology query. */
async function queryAll(
  bus: Bus,
  request: DataOf<typeof topologyQuery>,
): Promise<{ workloads: SuggestWorkload[]; edges: ObservedEdge[] }> {
  const workloads: SuggestWorkload[] = [];
  const edges: ObservedEdge[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const reply = await bus.request(topologyQuery, { ...request, limit: 5000, ...(after ? { after } : {}) });
    workloads.push(
      ...reply.workloads.map((w) => ({
        namespace: w.namespace,
        name: w.name,
        labels: w.labels,
        spiffeId: w.spiffeId,
      })),
    );
    edges.push(...reply.edges);
    if (!reply.next) break;
    after = reply.next;
  }
  return { workloads, edges };
}

/** Known workloads from the topology registry, for the selector check; none if it does not answer. */
async function registryWorkloads(ctx: CommandContext): Promise<KnownWorkload[] | undefined> {
  try {
    const { workloads } = await queryAll(await ctx.bus(), { what: 'registry' });
    return workloads.map((w) => ({ namespace: w.namespace, labels: w.labels }));
  } catch (err) {
    ctx.io.err(`(no topology registry: ${messageOf(err)}; selectors not checked)\n`);
    return undefined;
  }
}

const sourceOptions = {
  file: { type: 'string', short: 'f' },
  revision: { type: 'string' },
} as const;

export const policyCommands: Command[] = [
  {
    path: ['apply'],
    summary:
      'submit policy files (.yaml with kind: AuthorizationPolicy or MeshDefaults, .rego) and wait for each verdict',
    args: '-f <file|dir> [-n <namespace>]',
    options: {
      file: { type: 'string', short: 'f' },
      /** The namespace of AuthorizationPolicies without metadata.namespace, as kubectl's. */
      namespace: { type: 'string', short: 'n', default: 'default' },
      'dry-run': { type: 'boolean', default: false },
      entrypoint: { type: 'string' },
      ...timeoutOption,
    },
    async run(ctx, _positionals, values) {
      const path = values['file'];
      if (typeof path !== 'string') throw new UsageError('apply needs -f <file|dir>');
      const files = policyFiles(path);
      if (files.length === 0) throw new UsageError(`no .yaml, .yml or .rego files in ${path}`);
      const entrypoint = typeof values['entrypoint'] === 'string' ? values['entrypoint'] : undefined;
      const namespace = typeof values['namespace'] === 'string' ? values['namespace'] : 'default';
      if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
        throw new UsageError(`-n ${JSON.stringify(namespace)} is not a namespace name (a DNS-1123 label)`);
      // Every file states its kind before any is submitted.
      const submissions = files.map(
        (file) =>
          [
            file,
            submissionFor(file, {
              dryRun: values['dry-run'] === true,
              namespace,
              ...(entrypoint ? { entrypoint } : {}),
            }),
          ] as const,
      );
      const bus = await ctx.bus();
      let ok = true;
      for (const [file, data] of submissions) {
        ok = report(ctx, file, await submitAndWait(bus, data, seconds(values))) && ok;
      }
      return ok ? 0 : 1;
    },
  },
  {
    path: ['policy', 'get'],
    summary: 'the active revision, its policies and their rollout to decision points',
    async run(ctx) {
      const status = await (await ctx.bus()).request(policyStatus, { policies: true });
      if (ctx.output === 'json') {
        ctx.io.out(`${JSON.stringify(status, null, 2)}\n`);
        return 0;
      }
      ctx.io.out(
        `active revision: ${status.revision}${status.dryRunRevision ? `, dry run: ${status.dryRunRevision}` : ''}\n\n`,
      );
      ctx.io.out(
        table(
          ['POLICY', 'KIND', 'SINCE REVISION'],
          (status.policies ?? []).map((p) => [p.key, p.kind, String(p.revision)]),
        ),
      );
      ctx.io.out(
        `\n${table(
          ['DECISION POINT', 'APPLIED', 'AT'],
          status.rollout.map((r) => [r.decisionPoint, String(r.revision), r.at]),
        )}`,
      );
      return 0;
    },
  },
  {
    path: ['policy', 'history'],
    summary: 'every revision, newest first',
    async run(ctx) {
      const status = await (await ctx.bus()).request(policyStatus, { history: true });
      const rows = status.history ?? [];
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(rows, null, 2)}\n`);
      else {
        ctx.io.out(
          table(
            ['REVISION', 'AT', 'NOTE', 'POLICIES'],
            rows.map((h) => [
              `${h.revision}${h.revision === status.revision ? ' *' : ''}`,
              h.at,
              h.rollbackOf ? `rollback to ${h.rollbackOf}` : h.dryRun ? 'dry run' : '',
              String(h.keys.length),
            ]),
          ),
        );
      }
      return 0;
    },
  },
  {
    path: ['policy', 'rollback'],
    summary: 'make an earlier revision current again (as a new revision)',
    args: '<revision>',
    options: timeoutOption,
    async run(ctx, positionals, values) {
      const revision = Number(positionals[0]);
      if (!Number.isInteger(revision) || revision < 1)
        throw new UsageError('rollback needs a revision number');
      const outcome = await submitAndWait(await ctx.bus(), { kind: 'rollback', revision }, seconds(values));
      return report(ctx, `rollback to ${revision}`, outcome) ? 0 : 1;
    },
  },
  {
    path: ['policy', 'test'],
    summary: 'evaluate a request (YAML or JSON file) against a revision; exit 0 allow, 3 deny',
    args: '-f <request-file>',
    options: { file: { type: 'string', short: 'f' }, revision: { type: 'string' } },
    async run(ctx, _positionals, values) {
      const file = values['file'];
      if (typeof file !== 'string') throw new UsageError('test needs -f <request-file>');
      let request: AuthzRequest;
      try {
        request = parseYaml(readFileSync(file, 'utf8')) as AuthzRequest;
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${messageOf(err)}`);
      }
      const store = await PolicyStore.open(await ctx.nc());
      const revision =
        values['revision'] === undefined ? await store.activeRevision() : Number(values['revision']);
      const manifest = await store.getManifest(revision);
      if (!manifest) {
        ctx.io.err(`warden: revision ${revision} does not exist\n`);
        return 1;
      }
      const decision = (await buildRevision(store, manifest)).decide(request);
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(decision, null, 2)}\n`);
      else {
        ctx.io.out(
          `${decision.allowed ? 'ALLOW' : 'DENY'} by ${decision.policy ?? '(none)'} at revision ${decision.revision}\n`,
        );
        ctx.io.out(`  ${decision.message}\n`);
        if (decision.audit.length) ctx.io.out(`  audited by ${decision.audit.join(', ')}\n`);
      }
      return decision.allowed ? 0 : 3;
    },
  },
  {
    path: ['policy', 'analyze'],
    summary:
      'conflicting, shadowed and redundant rules, selectors matching no workload, mTLS-only fields on plaintext',
    args: '[-f <file|dir>] [--workloads <file>]',
    options: { ...sourceOptions, workloads: { type: 'string' } },
    async run(ctx, _positionals, values) {
      const policies = await policiesFrom(ctx, values);
      const workloads =
        workloadsFrom(values) ??
        (typeof values['file'] === 'string' ? undefined : await registryWorkloads(ctx));
      const findings = analyzePolicies(policies, workloads ? { workloads } : {});
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(findings, null, 2)}\n`);
      else if (findings.length === 0) ctx.io.out(`no findings in ${policies.length} policies\n`);
      else
        ctx.io.out(
          table(
            ['FINDING', 'RULE', 'BECAUSE OF', 'WHY'],
            findings.map((f) => [f.kind, f.subject, f.by ?? '', f.message]),
          ),
        );
      return 0;
    },
  },
  {
    path: ['policy', 'minimize'],
    summary: 'an equivalent, smaller policy set (YAML on stdout), checked on generated requests',
    args: '[-f <file|dir>] [--check N]',
    options: { ...sourceOptions, check: { type: 'string', default: '100000' } },
    async run(ctx, _positionals, values) {
      const requests = Number(values['check']);
      if (!Number.isInteger(requests) || requests < 0)
        throw new UsageError('--check must be a number of requests');
      const policies = await policiesFrom(ctx, values);
      const result = minimizePolicies(policies);
      for (const c of result.changes) {
        ctx.io.err(`${c.kind} ${c.subject}${c.into ? ` (into ${c.into})` : ''}: ${c.reason}\n`);
      }
      const report = checkEquivalence(policies, result.policies, { requests });
      ctx.io.err(
        `${result.rulesBefore} rules -> ${result.rulesAfter}; equivalent on ${report.checked} generated requests ` +
          `(${report.allowed} allowed): ${report.mismatches.length === 0 ? 'yes' : `NO, ${report.mismatches.length} differ`}\n`,
      );
      if (report.mismatches.length > 0) {
        ctx.io.err(`first difference: ${JSON.stringify(report.mismatches[0])}\n`);
        return 1;
      }
      ctx.io.out(formatAuthorizationPolicies(result.policies));
      return 0;
    },
  },
  {
    path: ['policy', 'suggest'],
    summary:
      'least-privilege AuthorizationPolicy YAML from the observed call graph, with what it would have denied',
    args: '--since 24h [--namespace ns]',
    options: { since: { type: 'string', default: '24h' }, namespace: { type: 'string' } },
    async run(ctx, _positionals, values) {
      const window = parseDuration(String(values['since']));
      const until = new Date();
      const since = new Date(until.getTime() - window);
      const namespace = typeof values['namespace'] === 'string' ? values['namespace'] : undefined;
      const bus = await ctx.bus();
      const { workloads } = await queryAll(bus, { what: 'registry' });
      const { edges } = await queryAll(bus, {
        what: 'graph',
        since: since.toISOString(),
        until: until.toISOString(),
        ...(namespace ? { namespace } : {}),
      });
      const scoped = namespace ? edges.filter((e) => e.destination.namespace === namespace) : edges;
      const { policies, denied } = suggestPolicies(workloads, scoped);
      const requests = (list: readonly { requests: number }[]): number =>
        list.reduce((n, e) => n + e.requests, 0);
      ctx.io.err(
        `${scoped.length} observed edges (${requests(scoped)} requests) since ${since.toISOString()}: ` +
          `${policies.length} policies; would have denied ${denied.length} edges (${requests(denied.map((d) => d.edge))} requests)\n`,
      );
      for (const d of denied) {
        const node = (n: { namespace?: string | undefined; workload?: string | undefined }): string =>
          `${n.namespace ?? '?'}/${n.workload ?? '?'}`;
        ctx.io.err(
          `  deny ${node(d.edge.source)} -> ${node(d.edge.destination)} ${d.edge.method} ${d.edge.pathPrefix} x${d.edge.requests}: ${d.why}\n`,
        );
      }
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ policies, denied }, null, 2)}\n`);
      else ctx.io.out(formatAuthorizationPolicies(policies));
      return 0;
    },
  },
];
