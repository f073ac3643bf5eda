import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultName, entryFromEvent, EntrySelector, parseEntriesFile } from './entries.ts';
import { EntriesFileError, InvalidEntryError } from './errors.ts';

const defaults = {
  trustDomain: 'cluster.local',
  workloadsDir: '/var/lib/warden/workloads',
  keyAlgorithm: 'ecdsa-p256' as const,
};

describe('entries file', () => {
  it('reads entries with defaults for name, folder and key algorithm', () => {
    const entries = parseEntriesFile(
      [
        'entries:',
        '  - spiffeId: spiffe://cluster.local/ns/demo/sa/web',
        '    joinToken: wjt_abc',
        '  - spiffeId: spiffe://cluster.local/ns/demo/sa/db',
        '    name: db-main',
        '    dir: /run/db',
        '    keyAlgorithm: rsa-2048',
        '    ttlSeconds: 600',
      ].join('\n'),
      'entries.yaml',
      defaults,
    );
    assert.equal(entries.length, 2);
    assert.deepEqual(entries[0], {
      spiffeId: 'spiffe://cluster.local/ns/demo/sa/web',
      name: 'demo.web',
      dir: '/var/lib/warden/workloads/demo.web',
      keyAlgorithm: 'ecdsa-p256',
      joinToken: 'wjt_abc',
      selectors: {},
      source: 'file',
    });
    assert.equal(entries[1]?.dir, '/run/db');
    assert.equal(entries[1]?.keyAlgorithm, 'rsa-2048');
    assert.equal(entries[1]?.ttlSeconds, 600);
  });

  it('reports every problem with its line and column, and refuses the whole file', () => {
    const text = [
      'entries:',
      '  - spiffeId: spiffe://other.domain/ns/a/sa/b',
      '  - spiffeId: spiffe://cluster.local/ns/a/sa/b',
      '    name: ../../etc',
      '    colour: blue',
      '  - spiffeId: spiffe://cluster.local/ns/demo/sa/web',
      '  - spiffeId: spiffe://cluster.local/ns/demo/sa/web',
    ].join('\n');
    assert.throws(
      () => parseEntriesFile(text, 'entries.yaml', defaults),
      (err: unknown) => {
        assert.ok(err instanceof EntriesFileError);
        assert.equal(err.code, 'invalid_entries_file');
        const byPath = new Map(err.issues.map((i) => [i.path, i]));
        assert.equal(byPath.get('entries.1.name')?.line, 4);
        assert.equal(byPath.get('entries.1')?.line, 3, 'the unknown key points at its entry');
        return true;
      },
    );
    // Schema errors come first; once the shape is right, identity problems are positioned too.
    assert.throws(
      () =>
        parseEntriesFile(
          [
            'entries:',
            '  - spiffeId: spiffe://other.domain/ns/a/sa/b',
            '  - spiffeId: spiffe://cluster.local/ns/demo/sa/web',
            '  - spiffeId: spiffe://cluster.local/ns/demo/sa/web',
            '  - spiffeId: spiffe://cluster.local/ns/x/sa/y?query',
          ].join('\n'),
          'entries.yaml',
          defaults,
        ),
      (err: unknown) => {
        assert.ok(err instanceof EntriesFileError);
        const lines = err.issues.map((i) => `${i.path}@${i.line}:${i.column}`);
        assert.ok(lines.includes('entries.0.spiffeId@2:15'), lines.join(' '));
        assert.ok(lines.includes('entries.2.spiffeId@4:15'), lines.join(' '));
        assert.ok(lines.includes('entries.3.spiffeId@5:15'), lines.join(' '));
        return true;
      },
    );
  });

  it('refuses two entries writing one folder', () => {
    const text = [
      'entries:',
      '  - spiffeId: spiffe://cluster.local/ns/a/sa/one',
      '    dir: shared',
      '  - spiffeId: spiffe://cluster.local/ns/a/sa/two',
      '    dir: ./shared/',
    ].join('\n');
    assert.throws(
      () => parseEntriesFile(text, 'entries.yaml', defaults),
      (err: unknown) =>
        err instanceof EntriesFileError &&
        err.issues[0]?.path === 'entries.1.dir' &&
        err.issues[0].line === 5,
    );
  });

  it('reports YAML syntax errors with positions and survives garbage and alias bombs', () => {
    assert.throws(() => parseEntriesFile('entries: [\n  - a: b', 'e.yaml', defaults), EntriesFileError);
    assert.throws(() => parseEntriesFile('\u0000\u0001binary', 'e.yaml', defaults), EntriesFileError);
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from({ length: 8 }, (_, i) => {
        const prev = i === 0 ? 'a' : `b${i - 1}`;
        return `b${i}: &b${i} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
      }),
    ].join('\n');
    assert.throws(() => parseEntriesFile(bomb, 'e.yaml', defaults), EntriesFileError);
    assert.deepEqual(parseEntriesFile('', 'e.yaml', defaults), []);
  });
});

describe('entries from events', () => {
  it('takes name, token and key algorithm from selectors, and keeps the token out of the selectors', () => {
    const entry = entryFromEvent(
      {
        spiffeId: 'spiffe://cluster.local/ns/demo/sa/api',
        selectors: { [EntrySelector.joinToken]: 'wjt_x', [EntrySelector.name]: 'api', 'k8s:ns': 'demo' },
      },
      defaults,
    );
    assert.equal(entry.name, 'api');
    assert.equal(entry.joinToken, 'wjt_x');
    assert.equal(entry.dir, '/var/lib/warden/workloads/api');
    assert.deepEqual(entry.selectors, { [EntrySelector.name]: 'api', 'k8s:ns': 'demo' });
    assert.equal(entry.source, 'event');
  });

  it('refuses a foreign trust domain, a bad SPIFFE ID and a name that is a path', () => {
    const bad: { spiffeId: string; selectors: Record<string, string> }[] = [
      { spiffeId: 'spiffe://evil.example/ns/a/sa/b', selectors: {} },
      { spiffeId: 'spiffe://cluster.local/ns/a/../b', selectors: {} },
      { spiffeId: 'spiffe://cluster.local', selectors: {} },
      { spiffeId: 'spiffe://cluster.local/ns/a/sa/b', selectors: { [EntrySelector.name]: '../../etc' } },
      { spiffeId: 'spiffe://cluster.local/ns/a/sa/b', selectors: { [EntrySelector.ttlSeconds]: 'forever' } },
    ];
    for (const data of bad)
      assert.throws(() => entryFromEvent(data, defaults), InvalidEntryError, JSON.stringify(data));
  });

  it('derives default names from Istio-shaped and other SPIFFE IDs', () => {
    assert.equal(defaultName('spiffe://cluster.local/ns/demo/sa/web'), 'demo.web');
    assert.equal(defaultName('spiffe://cluster.local/host/Node_1'), 'host.node_1');
    assert.equal(defaultName(`spiffe://cluster.local/${'a'.repeat(100)}`).length, 63);
  });
});
