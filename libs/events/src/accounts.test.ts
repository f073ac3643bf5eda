import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountLayout, covers } from './accounts.ts';
import type { AccountImport } from './accounts.ts';
import { grants, outsidePrincipals, peopleMirrors } from './permissions.ts';
import type { Account } from './permissions.ts';

/** Whether two subject patterns can match a common subject. */
function collide(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '>' || y[i] === '>') return i < x.length && i < y.length;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return true;
}

describe('accountLayout', () => {
  const layout = accountLayout();
  const imports = (account: Account): AccountImport[] => layout[account].imports;

  it('has no chain of service imports that nats-server would refuse as a cycle', () => {
    // As nats-server checks each service import: follow the exporting account's service imports
    // whose remote subject collides, and fail on coming back to an account already visited.
    const formsCycle = (account: Account, subject: string, visited: Set<Account>): boolean => {
      for (const imp of imports(account)) {
        if (imp.kind !== 'service' || !collide(subject, imp.subject)) continue;
        if (visited.has(imp.from)) return true;
        const local = imp.as ?? imp.subject;
        const next = covers(subject, local) ? imp.subject : subject;
        if (formsCycle(imp.from, next, new Set([...visited, account]))) return true;
      }
      return false;
    };
    for (const account of Object.keys(layout) as Account[]) {
      for (const imp of imports(account)) {
        if (imp.kind !== 'service') continue;
        assert.ok(
          !formsCycle(imp.from, imp.subject, new Set([account])),
          `${account} importing ${imp.subject} from ${imp.from}`,
        );
      }
    }
  });

  it('imports only what an export of the same subject grants to the importer', () => {
    for (const account of Object.keys(layout) as Account[]) {
      for (const imp of imports(account)) {
        const exported = layout[imp.from].exports.find(
          (e) => e.kind === imp.kind && e.subject === imp.subject,
        );
        assert.ok(exported, `${account}: ${imp.kind} ${imp.subject} is not exported by ${imp.from}`);
        assert.ok(exported.to.includes(account), `${imp.from} does not export ${imp.subject} to ${account}`);
      }
    }
  });

  it('never exports WARDEN’s consumer-create API, nor anything outside the rows of people and workloads', () => {
    for (const e of layout.WARDEN.exports) {
      assert.ok(!collide(e.subject, '$JS.API.CONSUMER.CREATE.>'), e.subject);
      assert.ok(!collide(e.subject, '$JS.API.CONSUMER.DURABLE.CREATE.>'), e.subject);
      assert.ok(!collide(e.subject, '$JS.API.STREAM.>'), e.subject);
    }
    const published = outsidePrincipals.flatMap((p) => [...grants[p].publishes, ...grants[p].requests]);
    for (const imp of [...layout.PEOPLE.imports, ...layout.WORKLOADS.imports]) {
      if (imp.from !== 'WARDEN' || imp.kind !== 'service') continue;
      assert.ok(
        published.some((d) => ('subject' in d ? d.subject : d.schema) === imp.subject.replace(/\.\*.*$/, '')),
        `${imp.subject} is imported but no row publishes or requests it`,
      );
    }
  });

  it('copies out no stream that people or workloads can write to', () => {
    for (const principal of outsidePrincipals)
      for (const def of grants[principal].publishes)
        if (def.stream) assert.ok(!peopleMirrors.includes(def.stream), `${def.stream} is mirrored`);
  });
});
