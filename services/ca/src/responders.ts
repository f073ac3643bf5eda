import type { Subscription } from '@nats-io/nats-core';
import { codeOf } from '@warden/core';
import { caBundle, caSign, caToken, identityIssued } from '@warden/events';
import type { Bus, Caller, DataOf, Envelope, ReplyOf } from '@warden/events';
import { parseSpiffeId } from '@warden/pki';
import type { Logger } from '@warden/runtime';
import type { TrustDomain } from '@warden/trust-domain';
import { issue } from './authority.ts';
import type { AuthorityOptions } from './authority.ts';
import { TokenRequestError } from './errors.ts';
import type { IssuedIndex } from './issued-index.ts';
import type { CaMetrics } from './metrics.ts';
import type { JoinTokens } from './tokens.ts';

/** Every instance of the CA answers in one queue group: each request is answered once. */
const QUEUE = 'ca';

export type RespondersOptions = {
  bus: Bus;
  log: Logger;
  metrics: CaMetrics;
  authority: AuthorityOptions;
  index: IssuedIndex;
  tokens: JoinTokens;
  /** The longest join-token lifetime (WARDEN_CA_TOKEN_MAX_TTL_SECONDS). */
  tokenMaxTtlSeconds: number;
};

/** `warden.ca.v1.sign`: the signing decision, then the record (event first, then the index). */
export function signResponder(options: RespondersOptions) {
  const { bus, metrics, authority, index, log } = options;
  return async (
    request: DataOf<typeof caSign>,
    envelope: Envelope<DataOf<typeof caSign>>,
  ): Promise<ReplyOf<typeof caSign>> => {
    try {
      const result = await issue(authority, request);
      // The stream is the record: the event is stored before the certificate is handed out.
      await bus.publish(identityIssued, {
        serial: result.serial,
        spiffeId: result.spiffeId,
        notBefore: result.notBefore,
        notAfter: result.notAfter,
        issuer: result.issuer,
      });
      await index.recordIssued(result);
      metrics.issued.inc({ method: result.method });
      // In the CA's audit chain too; not awaited: the SVID's own record is the event above.
      bus
        .audit({
          kind: 'identity',
          actor: envelope.source,
          action: 'ca.svid.issue',
          target: result.spiffeId,
          outcome: 'success',
          details: { serial: result.serial, notAfter: result.notAfter, method: result.method },
        })
        .catch((err: unknown) => log.warn({ err }, 'could not audit an issuance'));
      return {
        chainPem: result.chainPem,
        spiffeId: result.spiffeId,
        serial: result.serial,
        notAfter: result.notAfter,
      };
    } catch (err) {
      metrics.refused.inc({ code: codeOf(err) });
      throw err;
    }
  };
}

/** `warden.ca.v1.token`: a single-use join token for one workload of this trust domain, audited. */
export function tokenResponder(options: RespondersOptions) {
  const { bus, log, tokens, tokenMaxTtlSeconds } = options;
  const trustDomain: TrustDomain = options.authority.trustDomain;
  return async (
    request: DataOf<typeof caToken>,
    envelope: Envelope<DataOf<typeof caToken>>,
    caller: Caller,
  ): Promise<ReplyOf<typeof caToken>> => {
    const id = parseSpiffeId(request.spiffeId);
    if (id.trustDomain !== trustDomain.trustDomain)
      throw new TokenRequestError(`${id.uri} is not in trust domain ${trustDomain.trustDomain}`);
    if (id.path === '')
      throw new TokenRequestError('a join token must name a workload SPIFFE ID, not the trust domain');
    const ttl = request.ttlSeconds ?? Math.min(3600, tokenMaxTtlSeconds);
    if (ttl > tokenMaxTtlSeconds)
      throw new TokenRequestError(`token TTL of ${ttl} s exceeds the maximum of ${tokenMaxTtlSeconds} s`);
    const created = await tokens.create(id.uri, ttl);
    await bus
      .audit({
        kind: 'identity',
        actor: envelope.source,
        action: 'ca.token.create',
        target: id.uri,
        outcome: 'success',
        // `actor` is what the caller says; the account is what nats-server vouches for.
        details: { expiresAt: created.expiresAt, callerAccount: caller.account ?? 'WARDEN' },
      })
      .catch((err: unknown) => log.warn({ err }, 'could not audit a token creation'));
    return { token: created.token, spiffeId: id.uri, expiresAt: created.expiresAt };
  };
}

/** Answers sign, bundle and token requests; unsubscribe the returned subscriptions to stop. */
export function serveRequests(options: RespondersOptions): Subscription[] {
  const { bus, authority } = options;
  const bundle = (): ReplyOf<typeof caBundle> => authority.trustDomain.bundle();
  return [
    bus.serve(caSign, signResponder(options), { queue: QUEUE }),
    bus.serve(caBundle, bundle, { queue: QUEUE }),
    bus.serve(caToken, tokenResponder(options), { queue: QUEUE }),
  ];
}
