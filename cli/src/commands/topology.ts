import { topologyQuery } from '@warden/events';
import type { Bus, DataOf, ReplyOf } from '@warden/events';
import type { Command } from '../command.ts';
import { table } from '../table.ts';
import { parseDuration } from './policy.ts';

type Reply = ReplyOf<typeof topologyQuery>;

/** Every page of one query, concatenated. */
async function all(bus: Bus, request: DataOf<typeof topologyQuery>): Promise<Reply> {
  let merged: Reply | null = null;
  let after: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const reply = await bus.request(topologyQuery, { ...request, limit: 5000, ...(after ? { after } : {}) });
    merged = merged
      ? {
          ...reply,
          namespaces: [...merged.namespaces, ...reply.namespaces],
          services: [...merged.services, ...reply.services],
          workloads: [...merged.workloads, ...reply.workloads],
          edges: [...merged.edges, ...reply.edges],
        }
      : reply;
    if (!reply.next) break;
    after = reply.next;
  }
  if (!merged) throw new Error('no reply');
  return merged;
}

const node = (n: {
  namespace?: string | undefined;
  workload?: string | undefined;
  address?: string | undefined;
}): string => (n.workload ? `${n.namespace ?? '?'}/${n.workload}` : `@${n.address ?? '?'}`);

/** Graphviz: one node per workload, one edge per observed call, labelled method, path and count. */
function dot(reply: Reply): string {
  const quote = (s: string): string => JSON.stringify(s);
  const lines = ['digraph warden {', '  rankdir=LR;', '  node [shape=box];'];
  for (const e of reply.edges) {
    const label = `${e.method} ${e.pathPrefix}`.trim();
    lines.push(
      `  ${quote(node(e.source))} -> ${quote(node(e.destination))} [label=${quote(`${label} ×${e.requests}`)}];`,
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

const filterOptions = { namespace: { type: 'string' }, workload: { type: 'string' } } as const;
const filters = (values: Record<string, unknown>): { namespace?: string; workload?: string } => ({
  ...(typeof values['namespace'] === 'string' ? { namespace: values['namespace'] } : {}),
  ...(typeof values['workload'] === 'string' ? { workload: values['workload'] } : {}),
});

export const topologyCommands: Command[] = [
  {
    path: ['topology', 'get'],
    summary: 'the registry: workloads with their identity, address and source',
    options: filterOptions,
    async run(ctx, _positionals, values) {
      const reply = await all(await ctx.bus(), { what: 'registry', ...filters(values) });
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(reply, null, 2)}\n`);
      else {
        ctx.io.out(
          table(
            ['WORKLOAD', 'ADDRESS', 'PROTOCOL', 'IDENTITY', 'SOURCE'],
            reply.workloads.map((w) => [
              `${w.namespace}/${w.name}`,
              `${w.address}:${w.port}`,
              w.protocol,
              w.spiffeId,
              w.source,
            ]),
          ),
        );
      }
      return 0;
    },
  },
  {
    path: ['topology', 'graph'],
    summary: 'the observed call graph over a time range (text, json or Graphviz dot)',
    args: '[--since 1h] [--output text|json|dot]',
    options: { ...filterOptions, since: { type: 'string', default: '1h' } },
    async run(ctx, _positionals, values) {
      const since = new Date(Date.now() - parseDuration(String(values['since'])));
      const reply = await all(await ctx.bus(), {
        what: 'graph',
        since: since.toISOString(),
        ...filters(values),
      });
      const format = ctx.output;
      if (format === 'dot') ctx.io.out(dot(reply));
      else if (format === 'json') ctx.io.out(`${JSON.stringify(reply, null, 2)}\n`);
      else {
        ctx.io.out(
          table(
            ['FROM', 'TO', 'METHOD', 'PATH', 'REQUESTS', 'ERRORS', 'DENIES', 'LAST SEEN'],
            reply.edges.map((e) => [
              node(e.source),
              node(e.destination),
              e.method,
              e.pathPrefix,
              String(e.requests),
              String(e.errors),
              String(e.denies),
              e.lastSeen,
            ]),
          ),
        );
      }
      return 0;
    },
  },
];
