import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { FakeKubeApiServer } from '@warden/testing';

export const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';

type Recorded = { kind: string; status: Record<string, unknown>; spec?: Record<string, unknown> };

const recorded = (name: 'authenticated' | 'unauthenticated' | 'forbidden'): Recorded =>
  JSON.parse(
    readFileSync(join(import.meta.dirname, 'testdata', 'tokenreview', `${name}.json`), 'utf8'),
  ) as Recorded;

/** A service-account token the fake API server knows: whose it is and which audiences it was minted for. */
export type KnownToken = { namespace: string; serviceAccount: string; audiences: string[] };

/** A JWT-shaped token (header.payload.signature); only the fake API server gives it meaning. */
export function fakeServiceAccountToken(subject: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'fake' })}.${part({ sub: subject, jti: crypto.randomUUID() })}.${Buffer.from('sig').toString('base64url')}`;
}

/**
 * A stand-in for the Kubernetes API that answers TokenReviews with recorded replies, as the real
 * API server does: a known token is authenticated for the audiences it shares with the request
 * (none shared: unauthenticated with the server's audience error), an unknown one is not, and
 * `forbid()` answers 403 as for a CA lacking `create tokenreviews`.
 */
export class FakeTokenReviewApi extends FakeKubeApiServer {
  readonly requests: { method: string; path: string; authorization: string; body: unknown }[] = [];
  private readonly tokens = new Map<string, KnownToken>();
  private forbidden = false;
  /** Requests held without an answer (to test timeouts). */
  private stalled = false;

  mint(known: KnownToken): string {
    const token = fakeServiceAccountToken(`system:serviceaccount:${known.namespace}:${known.serviceAccount}`);
    this.tokens.set(token, known);
    return token;
  }

  forbid(on = true): void {
    this.forbidden = on;
  }

  stall(on = true): void {
    this.stalled = on;
  }

  protected override async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    this.requests.push({
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization ?? '',
      body,
    });
    if (this.stalled) return;
    const reply = (code: number, value: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.method !== 'POST' || path !== TOKEN_REVIEWS)
      return reply(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 });
    if (this.forbidden) return reply(403, recorded('forbidden'));

    const spec = (body as { spec?: { token?: string; audiences?: string[] } } | undefined)?.spec ?? {};
    const known = this.tokens.get(spec.token ?? '');
    const asked = spec.audiences ?? [];
    const shared = known ? known.audiences.filter((aud) => asked.includes(aud)) : [];
    if (!known) return reply(201, { ...recorded('unauthenticated'), spec });
    if (shared.length === 0) {
      const unauthenticated = recorded('unauthenticated');
      const error = `[invalid bearer token, token audiences ${JSON.stringify(known.audiences)} is invalid for the target audiences ${JSON.stringify(asked)}]`;
      return reply(201, { ...unauthenticated, spec, status: { ...unauthenticated.status, error } });
    }
    const authenticated = recorded('authenticated');
    const user = authenticated.status['user'] as Record<string, unknown>;
    const username = `system:serviceaccount:${known.namespace}:${known.serviceAccount}`;
    return reply(201, {
      ...authenticated,
      spec,
      status: { ...authenticated.status, user: { ...user, username }, audiences: shared },
    });
  }
}

/** A FakeTokenReviewApi for the current suite: started before its tests, stopped after them. */
export function useFakeTokenReviewApi(): { api: FakeTokenReviewApi; kubeconfig(): string } {
  const api = new FakeTokenReviewApi();
  let kubeconfig: string | undefined;
  before(async () => {
    kubeconfig = await api.start();
  });
  after(() => api.stop());
  return {
    api,
    kubeconfig: () => {
      if (!kubeconfig) throw new Error('the fake API is not started: call kubeconfig() inside a test');
      return kubeconfig;
    },
  };
}
