import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { defaultMeshDefault, parseAuthorizationPolicies, PolicyRevision } from '@warden/policy-engine';
import type { AuthzRequest } from '@warden/policy-engine';
import { parse, stringify } from 'yaml';
import { packAny, unpackAny } from './any.ts';
import { loadEnvoyProtos } from './protos.ts';
import type { Inexpressible, Rbac } from './rbac.ts';
import { toRbacFilters } from './rbac.ts';

/**
 * Istio's way of testing its RBAC builder: `testdata/rbac/<case>-in.yaml` (AuthorizationPolicies)
 * beside `<case>-out.yaml` (the generated filters), plus `<case>-requests.yaml`: requests whose
 * decision through the generated RBAC, evaluated by @grpc/grpc-js-xds's own RBAC engine after a
 * round trip through Envoy's protos, must equal the decision point's (`expect`), or differ from it
 * only where the case says so (`rbac`), in the safe direction for its data plane.
 * `UPDATE_GOLDEN=1` rewrites the `-out.yaml` files.
 */

const dir = join(import.meta.dirname, 'testdata', 'rbac');
const update = process.env['UPDATE_GOLDEN'] === '1';

type Info = {
  headers: Metadata;
  urlPath: string;
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  tls: boolean;
  peerCertificate: { subjectaltname: string; subject: Record<string, string> } | null;
};
type PolicyGroup = { apply(info: Info): boolean };
const grpcRbac = createRequire(import.meta.url)('@grpc/grpc-js-xds/build/src/rbac.js') as {
  parseConfig(rbac: unknown): PolicyGroup;
};

const FILTER_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';
const protos = loadEnvoyProtos(['envoy/extensions/filters/http/rbac/v3/rbac.proto']);

/** What grpc-js-xds's RBAC filter builds from the resource it received. */
function asGrpcReads(rbac: Rbac): PolicyGroup {
  const decoded = unpackAny<{ rules: unknown }>(
    protos,
    FILTER_TYPE,
    packAny(protos, FILTER_TYPE, { rules: rbac }),
  );
  return grpcRbac.parseConfig(decoded.rules);
}

type Request = {
  name: string;
  principal?: string;
  sourceIp?: string;
  port?: number;
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  expect: 'allow' | 'deny';
  /** Where the generated RBAC knowingly differs from the decision point. */
  rbac?: 'allow' | 'deny';
};
type Case = {
  workload: { namespace: string; labels: Record<string, string> };
  inexpressible?: Inexpressible;
  /** The policies hold something the parser reports (the case is about what happens then). */
  brokenInput?: boolean;
  time?: string;
  defaults?: Omit<Request, 'name' | 'expect'>;
  requests: Request[];
};

function authzRequest(c: Case, r: Request): AuthzRequest {
  return {
    destination: { ...c.workload, ip: '127.0.0.1', port: r.port ?? 8443 },
    source: { ...(r.principal ? { principal: r.principal } : {}), ip: r.sourceIp ?? '127.0.0.1' },
    http: {
      method: r.method ?? 'POST',
      path: r.path ?? '/',
      ...(r.host ? { host: r.host } : {}),
      headers: r.headers ?? {},
    },
    ...(c.time ? { time: c.time } : {}),
  };
}

/** The same request as grpc-js-xds's RBAC filter sees a call (it sets the pseudo-headers itself). */
function grpcInfo(r: Request): Info {
  const headers = new Metadata();
  for (const [name, value] of Object.entries(r.headers ?? {})) headers.set(name, value);
  headers.set(':method', r.method ?? 'POST');
  if (r.host) headers.set(':authority', r.host);
  headers.set(':path', r.path ?? '/');
  return {
    headers,
    urlPath: r.path ?? '/',
    destinationIp: '127.0.0.1',
    destinationPort: r.port ?? 8443,
    sourceIp: r.sourceIp ?? '127.0.0.1',
    tls: r.principal !== undefined,
    peerCertificate: r.principal ? { subjectaltname: `URI:spiffe://${r.principal}`, subject: {} } : null,
  };
}

const cases = readdirSync(dir)
  .filter((f) => f.endsWith('-in.yaml'))
  .map((f) => f.slice(0, -'-in.yaml'.length))
  .sort();

describe('AuthorizationPolicy → Envoy RBAC (golden, decided by grpc-js-xds)', () => {
  for (const name of cases) {
    it(name, () => {
      const c = parse(readFileSync(join(dir, `${name}-requests.yaml`), 'utf8')) as Case;
      const { policies, issues } = parseAuthorizationPolicies(
        readFileSync(join(dir, `${name}-in.yaml`), 'utf8'),
      );
      assert.equal(issues.length > 0, c.brokenInput ?? false, JSON.stringify(issues));
      const revision = new PolicyRevision(policies, {
        providers: new Map([['warden-rego', () => ({ allowed: true })]]),
      });
      const filters = toRbacFilters(revision.policiesFor(c.workload.namespace, c.workload.labels), {
        meshDefault: defaultMeshDefault,
        namespace: c.workload.namespace,
        inexpressible: c.inexpressible ?? 'deny',
      });

      const out = join(dir, `${name}-out.yaml`);
      const text = stringify(filters, { lineWidth: 0, aliasDuplicateObjects: false });
      if (update) writeFileSync(out, text);
      assert.equal(text, readFileSync(out, 'utf8'), `${name}-out.yaml`);

      const deny = filters.deny ? asGrpcReads(filters.deny) : undefined;
      const allow = filters.allow ? asGrpcReads(filters.allow) : undefined;
      for (const base of c.requests) {
        const r: Request = { ...c.defaults, ...base };
        const decision = revision.decide(authzRequest(c, r));
        assert.equal(
          decision.allowed ? 'allow' : 'deny',
          r.expect,
          `${r.name}: decision point (${decision.message})`,
        );
        const info = grpcInfo(r);
        const rbacAllows = (deny?.apply(info) ?? true) && (allow?.apply(info) ?? true);
        assert.equal(rbacAllows ? 'allow' : 'deny', r.rbac ?? r.expect, `${r.name}: generated RBAC`);
      }
    });
  }

  it('covers every translated field in at least one case', () => {
    const all = cases.map((n) => readFileSync(join(dir, `${n}-out.yaml`), 'utf8')).join('\n');
    for (const field of [
      'authenticated',
      'direct_remote_ip',
      'not_id',
      'not_rule',
      'url_path',
      'destination_port',
      'safe_regex',
      'ignore_case',
      'suffix',
      'prefix',
    ])
      assert.match(all, new RegExp(field), field);
  });
});
