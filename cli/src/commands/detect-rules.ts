import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { messageOf } from '@warden/core';
import { checkRuleFiles } from '@warden/infra';
import { describeFileIssues, parseYamlFile } from '@warden/runtime';
import { z } from 'zod';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { table } from '../table.ts';

/** The parts of a Prometheus rule file this command reads; vmalert checks the whole file first. */
const ruleFile = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          alert: z.string().optional(),
          record: z.string().optional(),
          expr: z.union([z.string(), z.number()]),
          for: z.string().optional(),
          keep_firing_for: z.string().optional(),
          labels: z.record(z.string(), z.string()).optional(),
        }),
      ),
    }),
  ),
});

type Sample = { metric: Record<string, string>; value: [number, string] };

async function query(url: string, expr: string): Promise<Sample[]> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(`cannot reach the time-series database at ${url}: ${messageOf(err)}`, { cause: err });
  }
  const body = (await res.json().catch(() => ({}))) as {
    status?: string;
    error?: string;
    data?: { result?: Sample[] };
  };
  if (body.status !== 'success')
    throw new Error(`${url} refused the query: ${body.error ?? `HTTP ${res.status}`}`);
  return body.data?.result ?? [];
}

const labelText = (labels: Record<string, string>): string =>
  `{${Object.entries(labels)
    .filter(([k]) => k !== '__name__')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;

/**
 * `warden detect rules test -f rules.yaml`: checks a rule file with vmalert (as the running
 * vmalert would load it), then evaluates each alerting rule's expression against the database now
 * and prints the series that would fire. `for` is not waited out: a series listed would first be
 * pending for that long.
 */
export const detectRuleCommands: readonly Command[] = [
  {
    path: ['detect', 'rules', 'test'],
    summary: 'check a Prometheus rule file and print the series each alerting rule would fire for now',
    options: { file: { type: 'string', short: 'f' }, url: { type: 'string' } },
    optionHelp: {
      file: 'the rule file (Prometheus format: groups, rules with alert, expr, for, labels, annotations)',
      url: 'VictoriaMetrics (PromQL API); default $WARDEN_VICTORIA_METRICS_URL, else http://127.0.0.1:8428',
    },
    async run(ctx, positionals, values) {
      if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}`);
      const file = values['file'];
      if (typeof file !== 'string' || file === '') throw new UsageError('-f <rule file> is required');
      const path = resolve(ctx.cwd, file);
      const rawUrl = values['url'] ?? ctx.env['WARDEN_VICTORIA_METRICS_URL'] ?? 'http://127.0.0.1:8428';
      if (typeof rawUrl !== 'string' || !/^https?:\/\/\S+$/.test(rawUrl))
        throw new UsageError(`--url must be an http:// or https:// URL, got ${JSON.stringify(rawUrl)}`);
      const url = rawUrl.replace(/\/+$/, '');
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        ctx.io.err(`warden: cannot read ${file}: ${messageOf(err)}\n`);
        return 1;
      }
      const check = await checkRuleFiles([path]);
      if (!check.ok) {
        const reasons = check.output
          .split('\n')
          .filter((line) => /\t(error|fatal)\t|^invalid |cannot|failed/.test(line))
          .map((line) => line.replace(/^.*\t(error|fatal)\t\S+\t/, ''));
        ctx.io.err(
          `warden: ${file} is not a valid rule file (vmalert -dryRun):\n  ${(reasons.length > 0 ? reasons : [check.output.trim()]).join('\n  ')}\n`,
        );
        return 1;
      }
      const parsed = parseYamlFile(text, ruleFile);
      if (!parsed.ok) {
        ctx.io.err(`warden: ${describeFileIssues('invalid rule file', file, parsed.issues)}\n`);
        return 1;
      }
      const rows: string[][] = [];
      const report: {
        group: string;
        alert: string;
        for?: string;
        firing: { labels: Record<string, string>; value: number }[];
      }[] = [];
      let failed = false;
      for (const group of parsed.data.groups) {
        for (const rule of group.rules) {
          if (!rule.alert) continue;
          let samples: Sample[];
          try {
            samples = await query(url, String(rule.expr));
          } catch (err) {
            ctx.io.err(`warden: ${group.name}/${rule.alert}: ${messageOf(err)}\n`);
            failed = true;
            continue;
          }
          const firing = samples.map((s) => ({
            labels: { ...s.metric, ...rule.labels },
            value: Number(s.value[1]),
          }));
          report.push({
            group: group.name,
            alert: rule.alert,
            ...(rule.for ? { for: rule.for } : {}),
            firing,
          });
          if (firing.length === 0) rows.push([group.name, rule.alert, '-', 'nothing would fire']);
          for (const f of firing) rows.push([group.name, rule.alert, String(f.value), labelText(f.labels)]);
        }
      }
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify({ file, url, rules: report }, null, 2)}\n`);
      else {
        ctx.io.out(table(['group', 'alert', 'value', 'series that would fire'], rows));
        const firing = report.reduce((n, r) => n + r.firing.length, 0);
        ctx.io.out(
          `\n${report.length} alerting rules, ${firing} series would fire now (before their 'for' wait)\n`,
        );
      }
      return failed ? 1 : 0;
    },
  },
];
