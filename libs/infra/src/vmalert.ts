import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { httpOk, startProcess } from './process.ts';
import type { ServerProcess } from './process.ts';

export type VmalertServer = ServerProcess & { readonly url: string; readonly port: number };

export type VmalertOptions = {
  dir: string;
  port?: number;
  /** Prometheus rule files (globs allowed, as vmalert's `-rule`). */
  ruleFiles: readonly string[];
  /** Where PromQL queries go: VictoriaMetrics. */
  datasourceUrl: string;
  /** The Alertmanager v2 API that receives notifications (the detector); a list notifies every replica. */
  notifierUrl: string | readonly string[];
  /** A file holding the bearer token the receiver asks for (the detector's `WARDEN_DETECTOR_RECEIVER_TOKEN_FILE`). */
  notifierTokenFile?: string;
  evaluationInterval?: string;
  /**
   * Equal to VictoriaMetrics's `-search.latencyOffset` (0 s in Warden's VictoriaMetrics): vmalert
   * otherwise queries 30 s in the past and every alert is 30 s late.
   */
  evalDelay?: string;
};

const ruleArgs = (files: readonly string[]): string[] => files.map((file) => `-rule=${file}`);

/**
 * vmalert on loopback: evaluates Prometheus-format alerting rules against VictoriaMetrics with
 * Prometheus's semantics (pending, firing, resolved; `for`, `keep_firing_for`) and notifies the
 * detector through the Alertmanager v2 API. It refuses to start on a malformed rule file.
 */
export async function startVmalert(options: VmalertOptions): Promise<VmalertServer> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const notifierUrls = typeof options.notifierUrl === 'string' ? [options.notifierUrl] : options.notifierUrl;
  const server = await startProcess({
    name: 'vmalert',
    command: binary('vmalert'),
    args: [
      `-httpListenAddr=127.0.0.1:${port}`,
      ...ruleArgs(options.ruleFiles),
      `-datasource.url=${options.datasourceUrl}`,
      // vmalert pairs each -notifier.url with the -notifier.bearerTokenFile of the same position.
      ...notifierUrls.flatMap((url) => [
        `-notifier.url=${url}`,
        ...(options.notifierTokenFile ? [`-notifier.bearerTokenFile=${options.notifierTokenFile}`] : []),
      ]),
      `-evaluationInterval=${options.evaluationInterval ?? '1s'}`,
      `-rule.evalDelay=${options.evalDelay ?? '0s'}`,
      '-loggerLevel=WARN',
    ],
    logFile: join(options.dir, 'vmalert.log'),
    ready: () => httpOk(`${url}/health`),
  });
  return { ...server, url, port };
}

export type RuleCheck = { ok: boolean; output: string };

/**
 * vmalert's own check of rule files (`-dryRun`): syntax, expressions, templates, and a path that
 * matches no file. Exits non-zero on any problem; its output names the file and the rule.
 */
export async function checkRuleFiles(ruleFiles: readonly string[]): Promise<RuleCheck> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      binary('vmalert'),
      ['-dryRun', ...ruleArgs(ruleFiles)],
      {
        timeout: 30_000,
      },
    );
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}
