import { events, filterOf, grants, isPermissionDenied, jsonSchemaOf, requests } from '@warden/events';
import type { Envelope, EventDef } from '@warden/events';
import type { CommandContext } from '../command.ts';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { table } from '../table.ts';

const byName = (name: string): EventDef => {
  const def = Object.values(events).find((e) => e.schema === name);
  if (!def) {
    throw new UsageError(`unknown event ${JSON.stringify(name)}; 'warden events list' shows them`);
  }
  return def as EventDef;
};

const who = (pick: (g: (typeof grants)[keyof typeof grants]) => readonly unknown[], def: unknown): string =>
  Object.entries(grants)
    .filter(([, g]) => pick(g).includes(def))
    .map(([p]) => p)
    .join(',');

/** `key=value` pairs into an object; each key at most once. */
function pairs(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} must be key=value, got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq);
    if (key in out) throw new UsageError(`${what} ${key} given twice`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

function checkQualifiers(def: EventDef, given: Record<string, string>): void {
  for (const key of Object.keys(given)) {
    if (!def.qualifiers.includes(key)) {
      const known = def.qualifiers.length ? def.qualifiers.join(', ') : 'none';
      throw new UsageError(`${def.schema} has no qualifier ${key} (qualifiers: ${known})`);
    }
  }
}

export const eventCommands: Command[] = [
  {
    path: ['events', 'list'],
    summary: 'every event and request subject, where it is stored, who publishes and who reads it',
    async run(ctx) {
      const rows = Object.values(events).map((def) => ({
        subject: filterOf(def),
        stream: def.stream ?? '(core NATS)',
        publishers: who((g) => g.publishes, def),
        subscribers: who((g) => g.subscribes, def),
      }));
      const reqs = Object.values(requests).map((def) => ({
        subject: def.subject,
        stream: '(request/reply)',
        publishers: who((g) => g.requests, def),
        subscribers: who((g) => g.serves, def),
      }));
      const all = [...rows, ...reqs];
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(all, null, 2)}\n`);
      else {
        ctx.io.out(
          table(
            ['SUBJECT', 'STORED IN', 'PUBLISHED BY', 'READ BY'],
            all.map((r) => [r.subject, r.stream, r.publishers, r.subscribers]),
          ),
        );
      }
      return 0;
    },
  },
  {
    path: ['events', 'schema'],
    summary: 'the JSON Schema of one event (its whole envelope)',
    args: '<event>',
    async run(ctx, positionals) {
      const [name] = positionals;
      if (!name) throw new UsageError('which event? e.g. warden events schema warden.policy.v1.submit');
      ctx.io.out(`${JSON.stringify(jsonSchemaOf(byName(name).envelope), null, 2)}\n`);
      return 0;
    },
  },
  {
    path: ['events', 'publish'],
    summary: 'validate and publish one event; prints the JetStream ack',
    args: '<event> <data-json> [qualifier=value ...]',
    async run(ctx, positionals) {
      const [name, json, ...rest] = positionals;
      if (!name || json === undefined) throw new UsageError('need an event and its data as JSON');
      const def = byName(name);
      let data: unknown;
      try {
        data = JSON.parse(json);
      } catch (err) {
        throw new UsageError(`data is not JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      const qualifiers = pairs(rest, 'a qualifier');
      checkQualifiers(def, qualifiers);
      const bus = await ctx.bus();
      const ack = await bus.publish(def, data, { qualifiers });
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(ack ?? { published: true })}\n`);
      else ctx.io.out(ack ? `stored in ${ack.stream} as #${ack.seq}\n` : 'published\n');
      return 0;
    },
  },
  {
    path: ['events', 'tail'],
    summary: 'print events as they happen, one JSON document per line, until Ctrl-C',
    args: '<event> [qualifier=value ...]',
    options: { count: { type: 'string', short: 'n' } },
    async run(ctx, positionals, values) {
      const [name, ...rest] = positionals;
      if (!name)
        throw new UsageError('which event? e.g. warden events tail warden.alert.v1 severity=critical');
      const def = byName(name);
      const filter = pairs(rest, 'a filter');
      checkQualifiers(def, filter);
      const raw = values['count'];
      const count = raw === undefined ? Infinity : Number(raw);
      if (raw !== undefined && !(Number.isInteger(count) && count > 0)) {
        throw new UsageError('--count must be a positive integer');
      }
      return tail(ctx, def, filter, count, (event, subject) =>
        ctx.io.out(`${JSON.stringify({ subject, ...event })}\n`),
      );
    },
  },
];

/**
 * Follows an event live until `count` events, Ctrl-C, or the server refusing the subscription
 * (which it does asynchronously: without watching for it, a tail would wait in silence). Exit
 * code 0, or 1 when refused.
 */
export async function tail<T>(
  ctx: CommandContext,
  def: EventDef<T>,
  filter: Record<string, string>,
  count: number,
  print: (event: Envelope<T>, subject: string) => void,
): Promise<number> {
  const bus = await ctx.bus();
  let seen = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolveDone) => (done = resolveDone));
  const sub = bus.subscribe(
    def,
    (event, subject) => {
      print(event, subject);
      if (++seen >= count) done();
    },
    { filter },
  );
  const refused = (async () => {
    for await (const status of bus.nc.status()) {
      if (status.type === 'error' && isPermissionDenied(status.error)) return String(status.error);
    }
    return 'connection closed';
  })();
  await bus.nc.flush();
  ctx.io.err(`listening on ${filterOf(def, filter)}\n`);
  const outcome = await Promise.race([finished.then(() => null), ctx.interrupted.then(() => null), refused]);
  sub.unsubscribe();
  if (outcome !== null) {
    ctx.io.err(`warden: ${outcome}\n`);
    return 1;
  }
  return 0;
}
