import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuditVerifier, auditSubjectOf, MISREADABLE, misreadableJson, publicKeyOfSeed } from '@warden/audit';
import type { Problem, VerifyReport } from '@warden/audit';
import { messageOf } from '@warden/core';
import { audit, filterOf, servicePrincipals, StreamName } from '@warden/events';
import type { Bus, StoredMessage } from '@warden/events';
import type { Command, CommandContext } from '../command.ts';
import { UsageError } from '../command.ts';
import { table } from '../table.ts';
import { verifyFile } from './audit-file.ts';
import { parseDuration } from './policy.ts';

/**
 * `warden audit ...`: the audit log read back. Everything here reads `WARDEN_AUDIT` (people get
 * their read-only copy of it) through JetStream consumers that start at a time and filter by
 * subject on the server; verification is `@warden/audit`'s.
 */

/** One line of `warden audit export`: the message as stored, and where. */
export type ExportLine = {
  type: 'record' | 'checkpoint';
  subject: string;
  streamSeq: number;
  storedAt: string;
  event: unknown;
};

const decoder = new TextDecoder();

/** `2026-01-31T12:00:00Z`, or a duration back from now (`24h`, `7d`). */
export function parseWhen(text: unknown, option: string): Date | undefined {
  if (text === undefined) return undefined;
  const value = String(text);
  if (/^\d+[smhd]$/.test(value)) return new Date(Date.now() - parseDuration(value));
  const when = new Date(value);
  if (!/^\d{4}-\d\d-\d\d/.test(value) || Number.isNaN(when.getTime()))
    throw new UsageError(
      `--${option} must be an ISO 8601 time or a duration back from now (30m, 24h, 7d), got ${JSON.stringify(value)}`,
    );
  return when;
}

const principalOption = (value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  const principal = String(value);
  if (!(servicePrincipals as readonly string[]).includes(principal))
    throw new UsageError(
      `--principal must be one of ${servicePrincipals.join(', ')}, got ${JSON.stringify(principal)}`,
    );
  return principal;
};

/**
 * One subject filter for the server: the records (and checkpoints) of one principal, or of all.
 * Records and checkpoints differ in the fourth token, so one wildcard there takes both.
 */
const subjectsFor = (principal: string | undefined, checkpoints: boolean): string[] => [
  checkpoints ? `warden.audit.v1.*.${principal ?? '*'}.*` : filterOf(audit, principal ? { principal } : {}),
];

/** Reads the audit stream from `since` to `until` (by storage time), message by message. */
async function readStream(
  bus: Bus,
  options: {
    since?: Date;
    until?: Date;
    principal?: string;
    checkpoints: boolean;
    follow?: boolean;
    signal?: AbortSignal;
  },
  onLine: (line: ExportLine, text: string) => void,
): Promise<void> {
  const until = options.until?.getTime();
  const done = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, done.signal]) : done.signal;
  await bus
    .scan(
      StreamName.audit,
      {
        subjects: subjectsFor(options.principal, options.checkpoints),
        ...(options.since ? { since: options.since } : {}),
        ...(options.follow ? { follow: true } : {}),
        signal,
      },
      (msg: StoredMessage) => {
        if (done.signal.aborted) return;
        if (until !== undefined && msg.storedAt.getTime() > until) {
          done.abort();
          return;
        }
        const kind = auditSubjectOf(msg.subject);
        const text = decoder.decode(msg.data);
        let event: unknown;
        try {
          event = JSON.parse(text);
        } catch {
          event = text;
        }
        onLine(
          {
            type: kind?.type ?? 'record',
            subject: msg.subject,
            streamSeq: msg.seq,
            storedAt: msg.storedAt.toISOString(),
            event,
          },
          text,
        );
      },
    )
    .catch((err: unknown) => {
      // Reaching --until ends the read early: that is the end of the window, not a failure.
      if (!done.signal.aborted || (options.signal?.aborted ?? false)) throw err;
    });
}

/**
 * An export line with the stored message as it is, byte for byte, rather than parsed and written
 * again: what the writer hashed, so `verify FILE` checks it without canonicalising, and nothing a
 * JSON parser may misread is rewritten. A message that is not JSON, or spans lines, is written
 * as a JSON string or parsed value instead (JSON Lines allows no line break).
 */
function exportLineText(line: ExportLine, text: string): string {
  if (typeof line.event === 'string' || /[\n\r]/.test(text)) return JSON.stringify(line);
  const { event: _stored, ...where } = line;
  return `${JSON.stringify(where).slice(0, -1)},"event":${text}}`;
}

/** Prints how far a long run is, at most every two seconds, on stderr. */
function progressOf(ctx: CommandContext, what: string): { tick(): void; add(n: number): void; end(): void } {
  const started = Date.now();
  let count = 0;
  let shown = started;
  const line = (): string => {
    const seconds = (Date.now() - started) / 1000;
    return `${what}: ${count.toLocaleString('en')} records (${Math.round(count / Math.max(seconds, 0.001)).toLocaleString('en')}/s)`;
  };
  return {
    tick() {
      count++;
      if ((count & 1023) === 0) this.add(0);
    },
    add(n) {
      count += n;
      if (Date.now() - shown >= 2000) {
        shown = Date.now();
        ctx.io.err(`${line()}\n`);
      }
    },
    end() {
      if (Date.now() - started >= 2000) ctx.io.err(`${line()}, done\n`);
    },
  };
}

/** Each principal's nkey public key: from `--public-keys`, else from the local stack's credentials. */
function publicKeys(ctx: CommandContext, file: unknown): Map<string, string> {
  if (file !== undefined) {
    const path = resolve(ctx.cwd, String(file));
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new UsageError(`--public-keys ${path}: ${messageOf(err)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError(`--public-keys ${path}: must be a JSON object {"<principal>": "U..."}`);
    const keys = new Map<string, string>();
    for (const [principal, key] of Object.entries(parsed)) {
      if (typeof key !== 'string' || !/^U[A-Z2-7]{55}$/.test(key))
        throw new UsageError(`--public-keys ${path}: ${principal} is not an nkey user public key`);
      keys.set(principal, key);
    }
    return keys;
  }
  const keys = keysFromCredentials(ctx.wardenDir);
  if (keys.size === 0)
    throw new UsageError(
      `no public keys to check checkpoints with: give --public-keys FILE (${join(ctx.wardenDir, 'creds')} has no service seeds)`,
    );
  return keys;
}

/** The public halves of the service seeds in `<wardenDir>/creds`. */
function keysFromCredentials(wardenDir: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const principal of servicePrincipals) {
    const file = join(wardenDir, 'creds', `${principal}.nk`);
    if (existsSync(file)) keys.set(principal, publicKeyOfSeed(readFileSync(file, 'utf8')));
  }
  return keys;
}

function printReport(ctx: CommandContext, report: VerifyReport, source: string): void {
  if (ctx.output === 'json') {
    ctx.io.out(`${JSON.stringify({ source, ...report }, null, 2)}\n`);
    return;
  }
  const seqText = (p: Problem): string =>
    p.seq === undefined ? '' : typeof p.seq === 'number' ? `#${p.seq}` : `#${p.seq[0]}-#${p.seq[1]}`;
  ctx.io.out(
    table(
      ['CHAIN', 'RECORDS', 'SEQ', 'SIGNED UP TO', 'UNSIGNED TAIL'],
      report.chains.map((c) => [
        c.chain,
        String(c.records),
        `${c.firstSeq}-${c.lastSeq}`,
        String(c.checkpointedSeq),
        String(c.unsignedTail),
      ]),
    ),
  );
  if (report.notes.length) ctx.io.out(`\n${report.notes.join('\n')}\n`);
  if (report.problems.length) {
    ctx.io.out('\n');
    ctx.io.out(
      table(
        ['PROBLEM', 'CHAIN', 'SEQ', 'WHERE', 'DETAIL'],
        report.problems.map((p) => [
          p.kind,
          p.chain,
          seqText(p),
          p.position === undefined ? '' : `${source === 'stream' ? 'stream #' : 'line '}${p.position}`,
          p.message,
        ]),
      ),
    );
  }
  ctx.io.out(
    `\n${report.records} records and ${report.checkpoints} checkpoints in ${report.chains.length} chains: ${
      report.ok ? 'every chain and checkpoint verifies' : `${report.problems.length} problems`
    }\n`,
  );
}

/** The fields `query` and `tail` show and filter on. */
type RecordView = {
  time: string;
  principal: string;
  instance: string;
  seq: number;
  kind: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
};

function viewOf(line: ExportLine): RecordView | null {
  const data = (line.event as { data?: Partial<RecordView> & { chain?: { seq?: number } } } | null)?.data;
  const writer = auditSubjectOf(line.subject)?.writer;
  if (line.type !== 'record' || !data || !writer) return null;
  return {
    time: String((line.event as { time?: unknown }).time ?? line.storedAt),
    principal: writer.principal,
    instance: writer.instance,
    seq: Number(data.chain?.seq ?? 0),
    kind: String(data.kind ?? ''),
    actor: String(data.actor ?? ''),
    action: String(data.action ?? ''),
    target: String(data.target ?? ''),
    outcome: String(data.outcome ?? ''),
    details: typeof data.details === 'object' && data.details !== null ? data.details : {},
  };
}

/** `--action`, `--workload`, `--decision`: what the server cannot filter on, checked here. */
function recordFilter(values: Record<string, unknown>): (r: RecordView) => boolean {
  const action = values['action'] === undefined ? undefined : String(values['action']);
  const workload = values['workload'] === undefined ? undefined : String(values['workload']);
  const decision = values['decision'] === undefined ? undefined : String(values['decision']);
  if (decision !== undefined && decision !== 'allow' && decision !== 'deny')
    throw new UsageError(`--decision must be allow or deny, got ${JSON.stringify(decision)}`);
  // `policy.*` matches every action under policy.
  const actionMatches = (a: string): boolean =>
    action === undefined || (action.endsWith('.*') ? a.startsWith(action.slice(0, -1)) : a === action);
  const workloadMatches = (r: RecordView): boolean =>
    workload === undefined ||
    r.details['workload'] === workload ||
    r.target === workload ||
    r.target.endsWith(`/${workload}`) ||
    r.target.includes(`/${workload}/`);
  return (r) =>
    actionMatches(r.action) &&
    workloadMatches(r) &&
    (decision === undefined || r.details['decision'] === decision);
}

const rowOf = (r: RecordView): string[] => [
  r.time,
  `${r.principal}/${r.instance}`,
  String(r.seq),
  r.action,
  r.outcome,
  r.target,
];
const HEADER = ['TIME', 'WRITER', 'SEQ', 'ACTION', 'OUTCOME', 'TARGET'];

const searchOptions = {
  principal: { type: 'string' },
  workload: { type: 'string' },
  decision: { type: 'string' },
  action: { type: 'string' },
} as const;
const searchHelp = {
  principal: 'only this writer (a service principal); filtered by the server',
  workload: 'records naming this workload (namespace/name) in their target or details.workload',
  decision: 'allow or deny: records whose details.decision is that',
  action: 'this action, or a prefix ending in .* (policy.*)',
};

export const auditCommands: Command[] = [
  {
    path: ['audit', 'export'],
    summary:
      'write the audit log (records and signed checkpoints) as JSON Lines, for a SIEM or `audit verify`',
    options: { since: { type: 'string' }, until: { type: 'string' }, principal: { type: 'string' } },
    optionHelp: {
      since: 'from this time (ISO 8601) or this long ago (24h, 7d); default the beginning',
      until: 'up to this time (ISO 8601) or this long ago; default now',
      principal: 'only this writer',
    },
    async run(ctx, _positionals, values) {
      const since = parseWhen(values['since'], 'since');
      const until = parseWhen(values['until'], 'until');
      const principal = principalOption(values['principal']);
      const progress = progressOf(ctx, 'exported');
      await readStream(
        await ctx.bus(),
        {
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
          ...(principal ? { principal } : {}),
          checkpoints: true,
        },
        (line, text) => {
          ctx.io.out(`${exportLineText(line, text)}\n`);
          progress.tick();
        },
      );
      progress.end();
      return 0;
    },
  },
  {
    path: ['audit', 'verify'],
    summary:
      'check every chain and checkpoint of the live audit log, or of an exported file; exit 0 only when all holds',
    args: '[FILE.jsonl]',
    options: { since: { type: 'string' }, 'public-keys': { type: 'string' }, partial: { type: 'boolean' } },
    optionHelp: {
      since: 'the live log from this time on (implies --partial)',
      'public-keys':
        'JSON {"<principal>": "U..."} of the nkey public keys checkpoints must be signed with (`warden audit keys` writes it); default the local stack credentials',
      partial: 'the input is a time window: chains may begin after their first record',
    },
    async run(ctx, positionals, values) {
      const [file, extra] = positionals;
      if (extra !== undefined) throw new UsageError('verify takes at most one file');
      const since = parseWhen(values['since'], 'since');
      if (file !== undefined && since)
        throw new UsageError('--since applies to the live log; a file is verified whole');
      const verifier = new AuditVerifier({
        publicKeys: publicKeys(ctx, values['public-keys']),
        partial: values['partial'] === true || since !== undefined,
      });
      const progress = progressOf(ctx, 'verified');
      const take = (line: ExportLine, position: number, text: string): void => {
        const kind = auditSubjectOf(line.subject);
        if (!kind) {
          verifier.unreadable(position, `${JSON.stringify(line.subject)} is not an audit subject`);
          return;
        }
        if (misreadableJson(text)) verifier.unreadable(position, MISREADABLE);
        else verifier.add({ type: kind.type, writer: kind.writer, position, event: line.event }, text);
        progress.tick();
      };
      if (file !== undefined) {
        const path = resolve(ctx.cwd, file);
        if (!existsSync(path)) throw new UsageError(`${path} does not exist`);
        await verifyFile(path, verifier, (count) => progress.add(count));
      } else {
        await readStream(await ctx.bus(), { ...(since ? { since } : {}), checkpoints: true }, (line, text) =>
          take(line, line.streamSeq, text),
        );
      }
      progress.end();
      const report = verifier.finish();
      printReport(ctx, report, file === undefined ? 'stream' : 'file');
      return report.ok ? 0 : 1;
    },
  },
  {
    path: ['audit', 'query'],
    summary: 'search audit records by time, writer, workload, decision and action',
    options: { since: { type: 'string', default: '24h' }, until: { type: 'string' }, ...searchOptions },
    optionHelp: {
      since: 'from this time (ISO 8601) or this long ago (24h, 7d); the server starts there',
      until: 'up to this time or this long ago; default now',
      ...searchHelp,
    },
    async run(ctx, _positionals, values) {
      const since = parseWhen(values['since'], 'since');
      const until = parseWhen(values['until'], 'until');
      const principal = principalOption(values['principal']);
      const keep = recordFilter(values);
      const found: RecordView[] = [];
      await readStream(
        await ctx.bus(),
        {
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
          ...(principal ? { principal } : {}),
          checkpoints: false,
        },
        (line) => {
          const view = viewOf(line);
          if (view && keep(view)) found.push(view);
        },
      );
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(found, null, 2)}\n`);
      else ctx.io.out(found.length ? table(HEADER, found.map(rowOf)) : 'no audit records match\n');
      return 0;
    },
  },
  {
    path: ['audit', 'tail'],
    summary: 'print audit records as they are written, until Ctrl-C',
    options: { count: { type: 'string', short: 'n' }, ...searchOptions },
    optionHelp: { count: 'stop after this many records', ...searchHelp },
    async run(ctx, _positionals, values) {
      const principal = principalOption(values['principal']);
      const keep = recordFilter(values);
      const raw = values['count'];
      const count = raw === undefined ? Infinity : Number(raw);
      if (raw !== undefined && !(Number.isInteger(count) && count > 0))
        throw new UsageError('--count must be a positive integer');
      const stop = new AbortController();
      void ctx.interrupted.then(() => stop.abort());
      let seen = 0;
      if (ctx.output !== 'json') ctx.io.out(`${table(HEADER, []).trimEnd()}\n`);
      const bus = await ctx.bus();
      ctx.io.err(`following ${subjectsFor(principal, false).join(' ')}\n`);
      await readStream(
        bus,
        { ...(principal ? { principal } : {}), checkpoints: false, follow: true, signal: stop.signal },
        (line) => {
          const view = viewOf(line);
          if (!view || !keep(view) || seen >= count) return;
          ctx.io.out(ctx.output === 'json' ? `${JSON.stringify(view)}\n` : `${rowOf(view).join('  ')}\n`);
          if (++seen >= count) stop.abort();
        },
      );
      return 0;
    },
  },
  {
    path: ['audit', 'keys'],
    summary:
      'print the nkey public keys that audit checkpoints are signed with, for `audit verify --public-keys`',
    async run(ctx) {
      const keys = keysFromCredentials(ctx.wardenDir);
      if (keys.size === 0) throw new UsageError(`no service seeds in ${join(ctx.wardenDir, 'creds')}`);
      ctx.io.out(`${JSON.stringify(Object.fromEntries(keys), null, 2)}\n`);
      return 0;
    },
  },
];
