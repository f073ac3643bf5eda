/**
 * The generated corpus of the minimisation check (issue 4): 512 rules that express 32 intents
 * (28 ALLOW, 4 DENY) with the noise real policy sets accumulate: intents split across rules
 * (GET in one, POST in another), exact duplicates, rules subsumed by broader ones (an exact path
 * under an allowed prefix, an extra header condition), and ALLOW rules shadowed by a DENY.
 */
import type { AuthorizationPolicy, Rule } from '../authz/model.ts';

export function generateCorpus(): AuthorizationPolicy[] {
  const policies: AuthorizationPolicy[] = [];
  const add = (
    namespace: string,
    action: 'ALLOW' | 'DENY',
    rule: Rule,
    selector?: Record<string, string>,
  ) => {
    const policy: AuthorizationPolicy = {
      apiVersion: 'security.istio.io/v1',
      name: `p-${String(policies.length).padStart(3, '0')}`,
      namespace,
      action,
      rules: [rule],
    };
    if (selector) policy.selector = selector;
    policies.push(policy);
  };
  for (let k = 0; k < 4; k++) add(`ns-${k}`, 'DENY', { to: [{ paths: ['/admin/*'] }] });
  for (let i = 0; i < 28; i++) {
    const ns = `ns-${i % 4}`;
    const selector = { app: `app-${i % 7}` };
    const from = [{ principals: [`cluster.local/ns/ns-${(i + 1) % 4}/sa/client-${i}`] }];
    const rule = (methods: string[], path: string): Rule => ({ from, to: [{ methods, paths: [path] }] });
    for (let copy = 0; copy < 3; copy++) {
      add(ns, 'ALLOW', rule(['GET'], `/svc-${i}/*`), selector);
      add(ns, 'ALLOW', rule(['POST'], `/svc-${i}/*`), selector);
    }
    for (let k = 0; k < 4; k++) add(ns, 'ALLOW', rule(['GET'], `/svc-${i}/item-${k}`), selector);
    for (let k = 0; k < 3; k++)
      add(
        ns,
        'ALLOW',
        {
          ...rule(['POST'], `/svc-${i}/*`),
          when: [{ key: 'request.headers[x-tenant]', values: [`t-${k}`] }],
        },
        selector,
      );
    for (let k = 0; k < 3; k++) add(ns, 'ALLOW', rule(['GET'], `/admin/page-${k}`), selector);
  }
  for (let k = 0; policies.length < 512; k++)
    add(`ns-${k % 4}`, 'DENY', { to: [{ paths: [`/admin/secret-${k}`] }] });
  return policies;
}
