import { alert, filterOf, isPermissionDenied, Severity } from '@warden/events';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

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
      const filter = severity === undefined ? {} : { severity };
      const bus = await ctx.bus();
      let seen = 0;
      let done: () => void = () => undefined;
      const finished = new Promise<void>((resolveDone) => (done = resolveDone));
      const sub = bus.subscribe(
        alert,
        (event, subject) => {
          const a = event.data;
          if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ subject, ...event })}\n`);
          else
            ctx.io.out(
              `${event.time}  ${a.status.padEnd(8)} ${a.severity.padEnd(8)} ${a.rule}  ${a.target.namespace}/${a.target.workload}  ${a.summary}\n`,
            );
          if (++seen >= count) done();
        },
        { filter },
      );
      // The server refuses a subscription asynchronously; without this, tail would wait in silence.
      const refused = (async () => {
        for await (const status of bus.nc.status()) {
          if (status.type === 'error' && isPermissionDenied(status.error)) return String(status.error);
        }
        return 'connection closed';
      })();
      await bus.nc.flush();
      ctx.io.err(`listening on ${filterOf(alert, filter)}\n`);
      const outcome = await Promise.race([
        finished.then(() => null),
        ctx.interrupted.then(() => null),
        refused,
      ]);
      sub.unsubscribe();
      if (outcome !== null) {
        ctx.io.err(`warden: ${outcome}\n`);
        return 1;
      }
      return 0;
    },
  },
];
