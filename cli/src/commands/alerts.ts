import { alert, Severity } from '@warden/events';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { tail } from './events.ts';

const severities: readonly string[] = Object.values(Severity);

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
        else
          ctx.io.out(
            `${event.time}  ${a.status.padEnd(8)} ${a.severity.padEnd(8)} ${a.rule}  ${a.target.namespace}/${a.target.workload}  ${a.summary}\n`,
          );
      });
    },
  },
];
