import { isIP } from 'node:net';
import {
  enforceDeny,
  enforceQuarantine,
  enforceRelease,
  enforcerStatus,
  quarantineRuleId,
} from '@warden/events';
import type { DataOf, ReplyOf } from '@warden/events';
import type { Command, CommandContext } from '../command.ts';
import { requiredReason, UsageError } from '../command.ts';
import { table } from '../table.ts';
import { parseDuration } from './policy.ts';

type Target = DataOf<typeof enforceQuarantine>['target'];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_TTL_SECONDS = 30 * 24 * 3600;

/** `shop/cart` (a workload), `spiffe://…` (an identity) or an IP address. */
export function parseTarget(text: string, what: string): Target {
  if (text.startsWith('spiffe://')) return { principal: text };
  if (isIP(text)) return { address: text };
  const [namespace, workload, extra] = text.split('/');
  if (namespace && workload && extra === undefined && DNS_LABEL.test(namespace) && workload.length <= 253)
    return { workload: { namespace, workload } };
  throw new UsageError(
    `${what} ${JSON.stringify(text)} is not <namespace>/<workload>, a spiffe:// ID or an IP address`,
  );
}

export const describeTarget = (target: Target | undefined): string =>
  !target
    ? '*'
    : 'workload' in target
      ? `${target.workload.namespace}/${target.workload.workload}`
      : 'principal' in target
        ? target.principal
        : target.address;

function ttlSeconds(value: unknown): number {
  const seconds = Math.round(parseDuration(String(value ?? '15m')) / 1000);
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) throw new UsageError('--ttl must be between 1s and 30d');
  return seconds;
}

async function published(ctx: CommandContext, what: string, seq: number | undefined): Promise<number> {
  ctx.io.out(`${what} (stored as #${seq ?? '?'}); enforcers apply it within a second\n`);
  return 0;
}

type StatusRule = ReplyOf<typeof enforcerStatus>['containment'][number];

/** Seconds until a rule lifts itself, as the tables show it. */
const timeLeft = (r: StatusRule, now: Date): string =>
  `${Math.max(0, Math.round((Date.parse(r.expiresAt) - now.getTime()) / 1000))}s`;

/** Who put a rule in force, and the alert when one did. */
const causedBy = (r: StatusRule): string =>
  r.cause.alertId ? `${r.cause.actor} (alert ${r.cause.alertId})` : r.cause.actor;

function printStatus(ctx: CommandContext, status: ReplyOf<typeof enforcerStatus>, now: Date): void {
  if (ctx.output === 'json') {
    ctx.io.out(`${JSON.stringify(status)}\n`);
    return;
  }
  ctx.io.out(
    `${status.decisionPoint}: revision ${status.revision}` +
      `${status.dryRunRevision ? ` (dry run ${status.dryRunRevision})` : ''}, ` +
      `${status.revokedSerials} revoked serials, ${status.containment.length} containment rules` +
      `${status.xdsVersion ? `, xDS ${status.xdsVersion} to ${status.dataPlanes?.length ?? 0} data planes` : ''}\n`,
  );
  const planes = status.dataPlanes ?? [];
  if (planes.length > 0)
    ctx.io.out(
      table(
        ['DATA PLANE', 'ADS', 'TYPE', 'SENT', 'ACKED', 'REJECTED'],
        planes.flatMap((p) =>
          p.types.map((t) => [
            p.node || '(unnamed)',
            p.protocol ?? 'sotw',
            t.typeUrl.slice(t.typeUrl.lastIndexOf('.') + 1),
            t.version ?? '-',
            t.acked ?? '-',
            t.nacked ? `${t.nacked.version}: ${t.nacked.message}` : '-',
          ]),
        ),
      ),
    );
  const terminators = status.terminators ?? [];
  if (terminators.length > 0)
    ctx.io.out(
      table(
        ['TERMINATOR', 'BIND', 'PID', 'QAT', 'QUARANTINED IDS', 'ADDRESSES', 'REVOKED', 'LOCKDOWN'],
        terminators.map((t) => [
          t.workload,
          t.bind,
          t.pid === null ? 'adopted' : String(t.pid),
          t.qat,
          String(t.quarantinedIdentities),
          String(t.quarantinedAddresses),
          String(t.revokedSerials),
          t.lockdown ? 'yes' : 'no',
        ]),
      ),
    );
  if (status.containment.length === 0) return;
  ctx.io.out(
    table(
      ['ID', 'KIND', 'FROM', 'TO', 'LEFT', 'REASON', 'BY'],
      status.containment.map((r) => [
        r.id,
        r.kind,
        describeTarget(r.kind === 'quarantine' ? r.target : r.source),
        r.kind === 'quarantine' ? '(both ways)' : describeTarget(r.destination),
        timeLeft(r, now),
        r.reason,
        causedBy(r),
      ]),
    ),
  );
}

export const containmentCommands: readonly Command[] = [
  {
    path: ['deny', 'add'],
    summary:
      'deny calls from a source to a destination for a while (an emergency rule, lifted when it expires)',
    args: '--from <target> --to <target> --ttl 15m --reason TEXT [--id ID]',
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      ttl: { type: 'string' },
      reason: { type: 'string' },
      id: { type: 'string' },
    },
    async run(ctx, _positionals, values) {
      const from = values['from'];
      const to = values['to'];
      if (typeof from !== 'string' && typeof to !== 'string')
        throw new UsageError('--from, --to or both: a rule naming neither would stop every call');
      const reason = requiredReason(values['reason']);
      const ttl = ttlSeconds(values['ttl']);
      const ruleId = typeof values['id'] === 'string' ? values['id'] : `deny-${crypto.randomUUID()}`;
      const ack = await (
        await ctx.bus()
      ).publish(enforceDeny, {
        ruleId,
        ...(typeof from === 'string' ? { source: parseTarget(from, '--from') } : {}),
        ...(typeof to === 'string' ? { destination: parseTarget(to, '--to') } : {}),
        ttlSeconds: ttl,
        reason,
      });
      return published(ctx, `deny rule ${ruleId} for ${ttl} s`, ack?.seq);
    },
  },
  {
    path: ['deny', 'release'],
    summary: 'lift an emergency deny rule before it expires',
    args: '<rule-id> --reason TEXT',
    options: { reason: { type: 'string' } },
    async run(ctx, positionals, values) {
      const [ruleId] = positionals;
      if (!ruleId) throw new UsageError('which rule? `warden enforcer status` lists them');
      const ack = await (
        await ctx.bus()
      ).publish(enforceRelease, { ruleId, reason: requiredReason(values['reason']) });
      return published(ctx, `release of ${ruleId} requested`, ack?.seq);
    },
  },
  {
    path: ['quarantine', 'add'],
    summary:
      'deny every call to and from a workload, identity or address for a while, except with the --allow peers (a forensics workload)',
    args: '<target> --ttl 15m --reason TEXT [--allow <target>]...',
    options: {
      ttl: { type: 'string' },
      reason: { type: 'string' },
      allow: { type: 'string', multiple: true },
    },
    async run(ctx, positionals, values) {
      const [text] = positionals;
      if (!text)
        throw new UsageError('quarantine what? <namespace>/<workload>, a spiffe:// ID or an IP address');
      const target = parseTarget(text, 'target');
      const reason = requiredReason(values['reason']);
      const ttl = ttlSeconds(values['ttl']);
      const allowed = values['allow'];
      const allow = (Array.isArray(allowed) ? allowed : []).map((a) => parseTarget(String(a), 'allow'));
      if (allow.length > 16) throw new UsageError('at most 16 --allow peers');
      const ack = await (
        await ctx.bus()
      ).publish(enforceQuarantine, { target, ttlSeconds: ttl, reason, ...(allow.length ? { allow } : {}) });
      const except = allow.length ? ` (except ${allow.map(describeTarget).join(', ')})` : '';
      return published(ctx, `quarantine of ${describeTarget(target)}${except} for ${ttl} s`, ack?.seq);
    },
  },
  {
    path: ['quarantine', 'list'],
    summary: 'the quarantines in force, with their exceptions and time left',
    async run(ctx) {
      const status = await (await ctx.bus()).request(enforcerStatus, {});
      const now = new Date();
      const quarantines = status.containment.filter((r) => r.kind === 'quarantine');
      if (ctx.output === 'json') {
        ctx.io.out(`${JSON.stringify(quarantines)}\n`);
        return 0;
      }
      if (quarantines.length === 0) {
        ctx.io.out('no quarantine in force\n');
        return 0;
      }
      ctx.io.out(
        table(
          ['TARGET', 'EXCEPT', 'LEFT', 'REASON', 'BY'],
          quarantines.map((r) => [
            describeTarget(r.target),
            r.allow?.map(describeTarget).join(', ') || '-',
            timeLeft(r, now),
            r.reason,
            causedBy(r),
          ]),
        ),
      );
      return 0;
    },
  },
  {
    path: ['quarantine', 'release'],
    summary: 'lift a quarantine before it expires',
    args: '<target> --reason TEXT',
    options: { reason: { type: 'string' } },
    async run(ctx, positionals, values) {
      const [text] = positionals;
      if (!text) throw new UsageError('release what? the target the quarantine named');
      const target = parseTarget(text, 'target');
      const ack = await (
        await ctx.bus()
      ).publish(enforceRelease, {
        ruleId: quarantineRuleId(target),
        reason: requiredReason(values['reason']),
      });
      return published(ctx, `release of the quarantine of ${describeTarget(target)} requested`, ack?.seq);
    },
  },
  {
    path: ['enforcer', 'status'],
    summary:
      'an enforcer: the revision it enforces, revoked serials, connected data planes and their ACK/NACK state, containment in force with time left',
    async run(ctx) {
      printStatus(ctx, await (await ctx.bus()).request(enforcerStatus, {}), new Date());
      return 0;
    },
  },
];
