import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { binary } from './paths.ts';
import { freePort } from './ports.ts';
import { httpOk, startProcess } from './process.ts';
import type { ServerProcess } from './process.ts';

export type VictoriaMetricsServer = ServerProcess & { readonly url: string; readonly port: number };

/** VictoriaMetrics single node on loopback: InfluxDB line protocol in, PromQL out. */
export async function startVictoriaMetrics(options: {
  dir: string;
  port?: number;
}): Promise<VictoriaMetricsServer> {
  const port = options.port ?? (await freePort());
  const dataDir = join(options.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const url = `http://127.0.0.1:${port}`;
  const server = await startProcess({
    name: 'victoria-metrics',
    command: binary('victoria-metrics'),
    args: [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dataDir}`,
      '-retentionPeriod=30d',
      // Tests query what they just wrote; the default search latency offset hides it for 30 s.
      '-search.latencyOffset=0s',
      '-search.disableCache',
      '-loggerLevel=WARN',
    ],
    logFile: join(options.dir, 'victoria-metrics.log'),
    ready: () => httpOk(`${url}/health`),
  });
  return { ...server, url, port };
}
