/**
 * The one table of `when` keys Warden understands (Istio's "Authorization Policy Conditions"
 * page, plus Warden's `request.time`). A key not in this table is an error, never ignored: a
 * silently ignored condition would widen an ALLOW rule.
 */

export type ValueKind = 'string' | 'ip' | 'port' | 'time' | 'service-account' | 'trust-domain';

export type Attribute = {
  /** The key as written, without its bracketed argument(s). */
  name: string;
  /** `none`: plain key; `one`: `key[arg]`; `nested`: `key[a][b]...` (JWT claims). */
  args: 'none' | 'one' | 'nested';
  /** Only meaningful on HTTP; on plain TCP the condition cannot be evaluated (see compile.ts). */
  httpOnly: boolean;
  value: ValueKind;
};

export const attributes: readonly Attribute[] = [
  { name: 'request.headers', args: 'one', httpOnly: true, value: 'string' },
  { name: 'source.ip', args: 'none', httpOnly: false, value: 'ip' },
  { name: 'remote.ip', args: 'none', httpOnly: false, value: 'ip' },
  { name: 'source.namespace', args: 'none', httpOnly: false, value: 'string' },
  { name: 'source.principal', args: 'none', httpOnly: false, value: 'string' },
  // Istio 1.24+: `<namespace>/<name>` or a bare name in the policy's namespace, matched against the
  // peer's principal as `serviceAccounts` is; and the principal's trust domain.
  { name: 'source.serviceAccount', args: 'none', httpOnly: false, value: 'service-account' },
  { name: 'source.trustDomain', args: 'none', httpOnly: false, value: 'trust-domain' },
  { name: 'request.auth.principal', args: 'none', httpOnly: true, value: 'string' },
  { name: 'request.auth.audiences', args: 'none', httpOnly: true, value: 'string' },
  { name: 'request.auth.presenter', args: 'none', httpOnly: true, value: 'string' },
  { name: 'request.auth.claims', args: 'nested', httpOnly: true, value: 'string' },
  { name: 'destination.ip', args: 'none', httpOnly: false, value: 'ip' },
  { name: 'destination.port', args: 'none', httpOnly: false, value: 'port' },
  { name: 'connection.sni', args: 'none', httpOnly: false, value: 'string' },
  // Warden's extension; plain Istio rejects this key.
  { name: 'request.time', args: 'none', httpOnly: false, value: 'time' },
];

const byName = new Map(attributes.map((a) => [a.name, a]));

export type ParsedKey = { attribute: Attribute; args: string[] };

/** Parses `request.headers[x-token]` or `request.auth.claims[a][b]`; returns an error string if bad. */
export function parseConditionKey(key: string): ParsedKey | string {
  const open = key.indexOf('[');
  const name = open === -1 ? key : key.slice(0, open);
  const attribute = byName.get(name);
  if (!attribute) return `unsupported condition key ${JSON.stringify(key)}`;
  const rest = open === -1 ? '' : key.slice(open);
  const args: string[] = [];
  const re = /\[([^[\]]+)\]/y;
  let at = 0;
  while (at < rest.length) {
    re.lastIndex = at;
    const m = re.exec(rest);
    if (!m?.[1]) return `malformed brackets in condition key ${JSON.stringify(key)}`;
    args.push(m[1]);
    at = re.lastIndex;
  }
  if (attribute.args === 'none' && args.length > 0) return `${name} takes no [argument]`;
  if (attribute.args === 'one' && args.length !== 1) return `${name} needs exactly one [name]`;
  if (attribute.args === 'nested' && args.length === 0) return `${name} needs at least one [claim]`;
  return { attribute, args };
}
