import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { codeOf, messageOf } from '@warden/core';
import type { NotifiedAlert } from '@warden/telemetry';
import { parseNotification } from '@warden/telemetry';
import type { DetectorMetrics } from './metrics.ts';

export type Receiver = { readonly port: number; close(): Promise<void> };

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Read on without keeping it (bounded by the request timeout), so the sender gets the 413.
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const reply = (res: ServerResponse, status: number, body: object): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/**
 * The Alertmanager v2 API as far as an evaluator uses it: `POST /api/v2/alerts` (an array of
 * alerts) and `GET /-/healthy`. A notification is answered 200 once its changes are on the bus;
 * a bad one gets 400 with the reason and changes nothing; a bus failure 503 (the evaluator sends
 * again at its next evaluation).
 */
export async function startReceiver(options: {
  host: string;
  port: number;
  maxBytes: number;
  token: string | undefined;
  metrics: DetectorMetrics;
  handle(alerts: NotifiedAlert[]): Promise<void>;
  log: { warn(obj: object, msg: string): void };
}): Promise<Receiver> {
  const { metrics, log } = options;
  const expected = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
  const authorized = (req: IncomingMessage): boolean => {
    if (!expected) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/-/healthy') return reply(res, 200, { status: 'ok' });
      if (path !== '/api/v2/alerts') return reply(res, 404, { error: 'not found' });
      if (req.method !== 'POST') return reply(res, 405, { error: 'POST an array of alerts' });
      if (!authorized(req)) {
        metrics.notifications.inc({ outcome: 'unauthorized' });
        return reply(res, 401, { error: 'a valid bearer token is required' });
      }
      let alerts: NotifiedAlert[];
      try {
        alerts = parseNotification(
          JSON.parse((await readBody(req, options.maxBytes)).toString('utf8')) as unknown,
        );
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          metrics.notifications.inc({ outcome: 'too_large' });
          res.setHeader('connection', 'close');
          return reply(res, 413, { error: `a notification is at most ${options.maxBytes} bytes` });
        }
        metrics.notifications.inc({ outcome: 'invalid' });
        log.warn({ err }, 'invalid alert notification refused');
        return reply(res, 400, { error: messageOf(err), code: codeOf(err, 'invalid_json') });
      }
      try {
        await options.handle(alerts);
      } catch (err) {
        metrics.notifications.inc({ outcome: 'publish_failed' });
        return reply(res, 503, { error: messageOf(err) });
      }
      metrics.notifications.inc({ outcome: 'ok' });
      return reply(res, 200, {});
    })().catch((err: unknown) => {
      log.warn({ err }, 'alert receiver failed');
      if (!res.headersSent) reply(res, 500, { error: 'internal' });
    });
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
