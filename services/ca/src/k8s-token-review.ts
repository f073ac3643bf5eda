import { ApiException, AuthenticationV1Api, KubeConfig, Observable } from '@kubernetes/client-node';
import type {
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
  V1TokenReview,
} from '@kubernetes/client-node';
import { messageOf } from '@warden/core';
import { ConfigError } from '@warden/runtime';
import { ReviewerUnavailableError } from './errors.ts';
import type { TokenReviewer, TokenReviewResult } from './k8s-attestor.ts';

/** Where the CA finds the Kubernetes API: the pod's own service account, or a kubeconfig file. */
export type KubernetesSource = { readonly inCluster: true } | { readonly kubeconfig: string };

/** A sign request waits on the review; the bus gives up after 5 s, so the review must not take longer. */
export const DEFAULT_REVIEW_TIMEOUT_MS = 3000;

/**
 * Loads the client configuration, reporting a problem as a configuration error that names the
 * variable: an unreadable or unparsable kubeconfig, or "in cluster" outside a pod.
 */
export function loadKubeConfig(source: KubernetesSource): KubeConfig {
  const variable = 'inCluster' in source ? 'WARDEN_CA_K8S_IN_CLUSTER' : 'WARDEN_CA_KUBECONFIG';
  const kc = new KubeConfig();
  try {
    if ('inCluster' in source) {
      if (!process.env['KUBERNETES_SERVICE_HOST'] || !process.env['KUBERNETES_SERVICE_PORT'])
        throw new Error('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)');
      kc.loadFromCluster();
    } else kc.loadFromFile(source.kubeconfig);
  } catch (err) {
    throw new ConfigError('ca', [`${variable}: cannot load the Kubernetes configuration: ${messageOf(err)}`]);
  }
  if (!kc.getCurrentCluster())
    throw new ConfigError('ca', [`${variable}: the Kubernetes configuration has no current cluster`]);
  return kc;
}

/**
 * The TokenReview adapter: POST /apis/authentication.k8s.io/v1/tokenreviews with the CA's own
 * credentials (which need `system:auth-delegator` or an equivalent `create tokenreviews` grant).
 * Any failure to get an answer (network, 401/403, timeout, a reply without status) is thrown as
 * `ReviewerUnavailableError`; the token itself never appears in an error.
 */
export class ApiTokenReviewer implements TokenReviewer {
  /** The API server's URL, for logs. */
  readonly server: string;
  private readonly api: AuthenticationV1Api;
  private readonly timeoutMs: number;

  constructor(kc: KubeConfig, options: { timeoutMs?: number } = {}) {
    this.server = kc.getCurrentCluster()?.server ?? '(none)';
    this.api = kc.makeApiClient(AuthenticationV1Api);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS;
  }

  async review(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    // The client has no timeout of its own; its fetch honours the request's abort signal.
    const withTimeout: ObservableMiddleware = {
      pre: (context: RequestContext) => {
        context.setSignal(signal);
        return new Observable(Promise.resolve(context));
      },
      post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
    };
    let reply: V1TokenReview;
    try {
      reply = await this.api.createTokenReview(
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token, audiences: [...audiences] },
          },
        },
        { middleware: [withTimeout], middlewareMergeStrategy: 'append' },
      );
    } catch (err) {
      throw new ReviewerUnavailableError(describe(err, this.server, signal, this.timeoutMs), { cause: err });
    }
    const status = reply.status;
    if (!status) throw new ReviewerUnavailableError(`${this.server} answered a TokenReview without a status`);
    return {
      authenticated: status.authenticated === true,
      username: status.user?.username ?? '',
      uid: status.user?.uid ?? '',
      audiences: status.audiences ?? [],
      ...(status.error ? { error: status.error } : {}),
    };
  }
}

/** A short reason without the request (ApiException's message carries headers and bodies). */
function describe(err: unknown, server: string, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) return `${server} did not answer within ${timeoutMs} ms`;
  if (err instanceof ApiException) {
    // A Status object, as JSON text (the client does not parse error bodies) or parsed.
    let body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        body = undefined;
      }
    }
    const message =
      typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string'
        ? `: ${body.message.slice(0, 200)}`
        : '';
    return `${server} answered HTTP ${err.code}${message}`;
  }
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${server}: ${messageOf(err)}${cause}`;
}
