import { filterOf } from './define.ts';
import {
  Account,
  accountOf,
  grants,
  inboxPrefix,
  outsidePrincipals,
  peopleMirrors,
  Principal,
} from './permissions.ts';
import { MIRROR_FEED, mirrorDeliverSubject, PEOPLE_JS_API, WARDEN_JS_API } from './streams.ts';

/**
 * A subject one account makes available to others: `service` for requests and publishes into it,
 * `stream` for messages out of it. A service answering with many messages (a JetStream pull
 * consumer's batch) says so with `responses: 'stream'`.
 */
export type AccountExport = {
  kind: 'service' | 'stream';
  subject: string;
  to: Account[];
  responses?: 'stream';
};
/** A subject taken from another account, seen here as `as` (the same subject when absent). */
export type AccountImport = { kind: 'service' | 'stream'; subject: string; from: Account; as?: string };

export type AccountSpec = {
  /** JetStream in this account: `WARDEN` holds every stream, `PEOPLE_HISTORY` only read-only mirrors. */
  jetstream: 'unlimited' | 'mirrors-only' | 'none';
  exports: AccountExport[];
  imports: AccountImport[];
};

/**
 * The account layout of ARCHITECTURE §7, derived from the permission table: what each principal
 * outside `WARDEN` publishes or requests is a service import, what it reads live is a stream
 * import, and people's history comes from mirrors fed by consumers that `WARDEN` owns. Nothing
 * else crosses: in particular `WARDEN`'s consumer-create API is never exported (a consumer's
 * deliver subject would reopen every subject of `WARDEN`).
 */
export function accountLayout(): Record<Account, AccountSpec> {
  const warden: AccountSpec = { jetstream: 'unlimited', exports: [], imports: [] };
  const outside: Record<Exclude<Account, 'WARDEN'>, AccountSpec> = {
    PEOPLE: { jetstream: 'none', exports: [], imports: [] },
    PEOPLE_HISTORY: { jetstream: 'mirrors-only', exports: [], imports: [] },
    WORKLOADS: { jetstream: 'none', exports: [], imports: [] },
  };
  const exported = new Map<string, AccountExport>();
  const exportFromWarden = (kind: AccountExport['kind'], subject: string, to: Account): void => {
    const key = `${kind} ${subject}`;
    const existing = exported.get(key);
    if (existing) {
      if (!existing.to.includes(to)) existing.to.push(to);
      return;
    }
    const entry: AccountExport = { kind, subject, to: [to] };
    exported.set(key, entry);
    warden.exports.push(entry);
  };

  for (const principal of outsidePrincipals) {
    const account = accountOf(principal) as Exclude<Account, 'WARDEN'>;
    const spec = outside[account];
    const grant = grants[principal];
    const services = new Set([
      ...grant.publishes.map((d) => filterOf(d)),
      ...grant.requests.map((d) => d.subject),
    ]);
    const streams = new Set([
      ...grant.subscribes.map((d) => filterOf(d)),
      ...(grant.subscribeWildcards ?? []),
    ]);
    // A wildcard that covers an event's filter replaces it: one import per subject space.
    for (const subject of [...streams]) {
      if ([...streams].some((other) => other !== subject && covers(other, subject))) streams.delete(subject);
    }
    for (const subject of [...services].sort()) {
      exportFromWarden('service', subject, account);
      spec.imports.push({ kind: 'service', subject, from: Account.warden });
    }
    for (const subject of [...streams].sort()) {
      exportFromWarden('stream', subject, account);
      spec.imports.push({ kind: 'stream', subject, from: Account.warden });
    }
  }

  // Mirrors: the feed arrives on its deliver subject; the mirror answers flow control and may
  // reset its own feed consumer, nothing more.
  const history = outside.PEOPLE_HISTORY;
  for (const stream of peopleMirrors) {
    const deliver = mirrorDeliverSubject(stream);
    exportFromWarden('stream', deliver, Account.history);
    history.imports.push({ kind: 'stream', subject: deliver, from: Account.warden });
    const reset = `$JS.API.CONSUMER.RESET.${stream}.${MIRROR_FEED}`;
    exportFromWarden('service', reset, Account.history);
    history.imports.push({
      kind: 'service',
      subject: reset,
      from: Account.warden,
      as: reset.replace('$JS.API', WARDEN_JS_API),
    });
    const flowControl = `$JS.FC.${stream}.${MIRROR_FEED}.*`;
    exportFromWarden('service', flowControl, Account.history);
    history.imports.push({ kind: 'service', subject: flowControl, from: Account.warden });
  }
  // The mirrors' owners create them through the history account's stream API, and people read
  // through its JetStream API as if it were their own (their permissions limit them to reads).
  // `WARDEN` takes the stream API only: the consumer API would overlap the feed's reset that the
  // history account imports from `WARDEN`, a cycle nats-server refuses.
  warden.imports.push({
    kind: 'service',
    subject: '$JS.API.STREAM.>',
    from: Account.history,
    as: `${PEOPLE_JS_API}.STREAM.>`,
  });
  // Exported and imported piece by piece: nats-server's cycle check would take a whole
  // `$JS.API.>` for a loop through the feed's reset and `WARDEN`'s stream API import.
  for (const subject of peopleJsApi) {
    const to = subject === '$JS.API.STREAM.>' ? [Account.warden, Account.people] : [Account.people];
    history.exports.push({ kind: 'service', subject, to, responses: 'stream' });
    outside.PEOPLE.imports.push({ kind: 'service', subject, from: Account.history });
  }
  // A push consumer people create (an object read, a bucket watch) delivers in the history
  // account: only to people's own inbox does it come back, with its flow control and acks. The
  // mirrors' own feed replies are not among them (people's permissions refuse that consumer name).
  const peopleInbox = `${inboxPrefix(Principal.user)}.>`;
  history.exports.push({ kind: 'stream', subject: peopleInbox, to: [Account.people] });
  outside.PEOPLE.imports.push({ kind: 'stream', subject: peopleInbox, from: Account.history });
  for (const stream of peopleMirrors) {
    for (const subject of [`$JS.FC.${stream}.>`, `$JS.ACK.${stream}.>`]) {
      history.exports.push({ kind: 'service', subject, to: [Account.people] });
      outside.PEOPLE.imports.push({ kind: 'service', subject, from: Account.history });
    }
  }

  return { WARDEN: warden, ...outside };
}

/** The parts of the JetStream API people use to read their copies. */
const peopleJsApi = ['$JS.API.INFO', '$JS.API.STREAM.>', '$JS.API.CONSUMER.>', '$JS.API.DIRECT.>'];

/** Whether NATS subject pattern `wide` matches every subject that `narrow` matches. */
export function covers(wide: string, narrow: string): boolean {
  const w = wide.split('.');
  const n = narrow.split('.');
  for (let i = 0; i < w.length; i++) {
    if (w[i] === '>') return n.length > i;
    if (i >= n.length) return false;
    if (w[i] === '*') {
      if (n[i] === '>') return false;
      continue;
    }
    if (w[i] !== n[i]) return false;
  }
  return w.length === n.length;
}
