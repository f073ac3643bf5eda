import { alert, Severity } from '@warden/events';
import type { DataOf } from '@warden/events';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { tail } from './events.ts';

const severities: readonly string[] = Object.values(Severity);

type Evidence = NonNullable<DataOf<typeof alert>['evidence']>;
type Sample = NonNullable<Evidence['samples']>[number];

const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toPrecision(3));

const endpointOf = (e: Sample['source']): string =>
  [e.address, e.namespace && e.workload ? `${e.namespace}/${e.workload}` : e.principal]
    .filter(Boolean)
    .join(' ') || '?';

/** One sample record on one line: when, who called whom, what, and how it ended. */
function sampleLine(r: Sample): string {
  const call = [r.method, r.path].filter(Boolean).join(' ') || r.protocol;
  const port = r.destination.port === undefined ? '' : `:${r.destination.port}`;
  const outcome = [r.status, r.decision, r.reason].filter((v) => v !== undefined).join(' ');
  const bytes =
    r.bytesSent === undefined && r.bytesReceived === undefined
      ? ''
      : `  ${r.bytesReceived ?? 0}B in ${r.bytesSent ?? 0}B out`;
  return `${r.time}  ${endpointOf(r.source)} → ${endpointOf(r.destination)}${port}  ${call}  ${outcome}${bytes}`;
}

/** An alert's evidence as indented lines under it (`warden alerts tail`, table output). */
export function evidenceLines(e: Evidence): string[] {
  const head = [
    e.detector,
    e.model && `model ${e.model}`,
    e.score !== undefined && `score ${num(e.score)}`,
    e.window && `window ${e.window.start} to ${e.window.end}`,
  ].filter(Boolean);
  const lines = [`    evidence: ${head.join(', ')}`];
  for (const c of e.conditions ?? []) {
    const against = [
      c.required !== undefined && `required ${num(c.required)}`,
      c.baseline !== undefined && `baseline ${num(c.baseline)}`,
      c.z !== undefined && `z ${num(c.z)}`,
    ].filter(Boolean);
    lines.push(
      `      ${c.feature} ${num(c.value)} (${c.kind}${against.length ? `: ${against.join(', ')}` : ''})`,
    );
  }
  for (const r of e.samples ?? []) lines.push(`      ${sampleLine(r)}`);
  if (e.samplesNote) lines.push(`      (${e.samplesNote})`);
  return lines;
}

/** `warden alerts tail`: alerts as they fire and resolve, as `user` (who reads warden.alert.> live). */
export const alertCommands: readonly Command[] = [
  {
    path: ['alerts', 'tail'],
    summary: 'print alerts as they fire and resolve, until Ctrl-C (-o json: one event per line)',
    options: { severity: { type: 'string' }, count: { type: 'string', short: 'n' } },
    optionHelp: {
      severity: `only this severity: ${severities.join(', ')}`,
      count: 'stop after this many alerts',
    },
    async run(ctx, positionals, values) {
      if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}`);
      const severity = values['severity'];
      if (severity !== undefined && (typeof severity !== 'string' || !severities.includes(severity)))
        throw new UsageError(`--severity must be one of ${severities.join(', ')}`);
      const raw = values['count'];
      const count = raw === undefined ? Infinity : Number(raw);
      if (raw !== undefined && !(Number.isInteger(count) && count > 0))
        throw new UsageError('--count must be a positive integer');
      const filter: Record<string, string> = severity === undefined ? {} : { severity };
      return tail(ctx, alert, filter, count, (event, subject) => {
        const a = event.data;
        if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ subject, ...event })}\n`);
        else {
          ctx.io.out(
            `${event.time}  ${a.status.padEnd(8)} ${a.severity.padEnd(8)} ${a.rule}  ${a.target.namespace}/${a.target.workload}  ${a.summary}\n`,
          );
          if (a.evidence) ctx.io.out(`${evidenceLines(a.evidence).join('\n')}\n`);
        }
      });
    },
  },
];
