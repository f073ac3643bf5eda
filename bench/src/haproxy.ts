import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { mapFiles, renderTerminator, runtimeCommand, terminatorFiles } from '@warden/haproxy';
import { binary, freePort, startProcess } from '@warden/infra';
import { certificatePem } from '@warden/pki';
import { tempDir, testLeaf, testTrustDomain } from '@warden/testing';
import type { Benchmark, Figures } from './benchmark.ts';
import { round, target } from './benchmark.ts';
import { sTime, sTimeFigures } from './mtls-handshake/openssl.ts';

const TD = 'warden.local';
const CHUNK = Buffer.alloc(1 << 20, 0x61);

/**
 * Throughput through the rendered terminator: `connections` curl clients each download `mib` MiB
 * over mTLS, and the same through a plain-HTTP frontend of the same HAProxy to the same backend
 * (the ratio's base); then new-connection rates with full and resumed TLS 1.3 handshakes
 * (`openssl s_time -new` and `-reuse -www`). Everything shares the machine's cores.
 */
export const haproxyThroughput: Benchmark = {
  name: 'haproxy-throughput',
  description:
    'encrypted throughput through the rendered HAProxy terminator (mTLS) vs plain HTTP through the same HAProxy, and handshake rates',
  defaults: { mib: 1024, connections: 4, seconds: 5 },
  run: async (params, progress) => {
    const { mib = 1024, connections = 4, seconds = 5 } = params;
    const dir = tempDir('bench-haproxy');
    const file = (name: string) => join(dir, name);
    const domain = await testTrustDomain(TD);
    const server = await testLeaf(domain.intermediate, `spiffe://${TD}/ns/payments/sa/payment-service`);
    const client = await testLeaf(domain.intermediate, `spiffe://${TD}/ns/shop/sa/frontend`);
    writeFileSync(file('server.pem'), `${server.chainPem.join('')}${server.keyPem}`);
    writeFileSync(file('root-cert.pem'), certificatePem(domain.root.certificate));
    writeFileSync(file('crl.pem'), await domain.crls());
    writeFileSync(file('client.pem'), client.chainPem[0] ?? '');
    writeFileSync(file('client-chain.pem'), client.chainPem.join(''));
    writeFileSync(file('client-key.pem'), client.keyPem);
    writeFileSync(
      file('ca-bundle.pem'),
      `${certificatePem(domain.root.certificate).trimEnd()}\n${client.chainPem[1]?.trimEnd() ?? ''}\n`,
    );

    // The backend answers `/ok` with two bytes and anything else with `mib` MiB.
    const backend = createServer((req, res) => {
      if (req.url === '/ok') return res.end('ok');
      res.writeHead(200, { 'content-length': String(mib * CHUNK.length) });
      let left = mib;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as { port: number }).port;
    const tlsPort = await freePort();
    const plainPort = await freePort();
    const files = terminatorFiles(dir, dir);
    for (const map of mapFiles(files)) writeFileSync(map, '');
    const config = `${renderTerminator({
      workload: 'payments/payment-service',
      bind: { address: '127.0.0.1', port: tlsPort },
      backend: { address: '127.0.0.1', port: backendPort },
      files,
    })}
# Benchmark only: the same backend in plain HTTP, the ratio's base.
frontend plain
  bind 127.0.0.1:${plainPort}
  default_backend payments_payment-service_workload
`;
    writeFileSync(file('haproxy.cfg'), config);
    const haproxy = await startProcess({
      name: 'haproxy',
      command: binary('haproxy'),
      args: ['-f', file('haproxy.cfg'), '-db'],
      logFile: file('haproxy.log'),
      ready: async () =>
        existsSync(files.runtimeSocket) &&
        /Name: HAProxy/.test(
          await runtimeCommand(files.runtimeSocket, 'show info', undefined, 1000).catch(() => ''),
        ),
    });

    /** `connections` curls at once; Gbit/s over the wall time of the slowest. */
    const download = async (tls: boolean): Promise<{ gbps: number; seconds: number }> => {
      const url = tls ? `https://127.0.0.1:${tlsPort}/big` : `http://127.0.0.1:${plainPort}/big`;
      const args = [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{size_download}',
        ...(tls
          ? [
              '--cacert',
              file('root-cert.pem'),
              '--cert',
              file('client-chain.pem'),
              '--key',
              file('client-key.pem'),
              '-k',
            ]
          : []),
        url,
      ];
      const started = process.hrtime.bigint();
      const sizes = await Promise.all(
        Array.from(
          { length: connections },
          () =>
            new Promise<number>((resolve, reject) =>
              execFile('curl', args, { timeout: 600_000 }, (err, out) =>
                err ? reject(err) : resolve(Number(out)),
              ),
            ),
        ),
      );
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      const bytes = sizes.reduce((a, b) => a + b, 0);
      if (bytes !== connections * mib * CHUNK.length) throw new Error(`short transfer: ${bytes} bytes`);
      return { gbps: round((bytes * 8) / secs / 1e9, 2), seconds: round(secs, 2) };
    };

    try {
      progress(`plain HTTP: ${connections} × ${mib} MiB`);
      const plain = await download(false);
      progress(`mTLS: ${connections} × ${mib} MiB`);
      const tls = await download(true);
      progress(`handshakes for ${seconds} s each`);
      const sFiles = {
        clientCert: file('client.pem'),
        clientKey: file('client-key.pem'),
        caBundle: file('ca-bundle.pem'),
      };
      const full = await sTime(tlsPort, sFiles, '-new', seconds, true);
      const resumed = await sTime(tlsPort, sFiles, '-reuse', seconds, true);
      const results: Figures = {
        tlsGbps: tls.gbps,
        tlsSeconds: tls.seconds,
        ...sTimeFigures('full', full),
        ...sTimeFigures('resumed', resumed),
      };
      return {
        results,
        baseline: { plainGbps: plain.gbps, plainSeconds: plain.seconds },
        ratio: round(tls.gbps / plain.gbps, 2),
        target: target(
          `mTLS throughput through the terminator, ${connections} × ${mib} MiB`,
          'results.tlsGbps',
          tls.gbps,
          '>=',
          4.5,
        ),
      };
    } finally {
      await haproxy.stop();
      backend.close();
    }
  },
};
