import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFeed, ThreatIndex } from './threat-intel.ts';

describe('threat-intelligence feeds', () => {
  it('loads a plain feed with 10% malformed lines, reporting each by line number', () => {
    const good = Array.from({ length: 90 }, (_, i) => `198.51.${Math.floor(i / 10)}.${i}`);
    const bad = [
      '300.1.1.1',
      '10.0.0.0/33',
      'example.com',
      '1.2.3',
      '::g',
      '10.0.0.0/x',
      '-',
      '1.2.3.4/',
      '256.0.0.0/8',
      'spiffe://x/y',
    ];
    const lines: string[] = ['# a feed', ''];
    for (let i = 0; i < 100; i++)
      lines.push(i % 10 === 9 ? (bad[Math.floor(i / 10)] ?? 'x') : (good.shift() ?? ''));
    const feed = parseFeed('local-blocklist', 'plain', lines.join('\n'));
    assert.equal(feed.cidrs.length, 90);
    assert.equal(feed.issues.length, 10);
    assert.deepEqual(
      feed.issues.map((i) => i.line),
      [12, 22, 32, 42, 52, 62, 72, 82, 92, 102],
    );
    assert.match(feed.issues[1]?.reason ?? '', /prefix length must be 0 to 32/);
  });

  it('reads FireHOL netsets and Spamhaus DROP (text and JSON lines) and matches addresses', () => {
    const firehol = parseFeed(
      'firehol_level1',
      'firehol',
      '#\n# firehol_level1\n#\n0.0.0.0/8\n203.0.113.0/24\n2001:db8::/32 # doc\n',
    );
    const drop = parseFeed(
      'spamhaus-drop',
      'spamhaus-drop',
      '; Spamhaus DROP List\n1.10.16.0/20 ; SBL256894\n{"cidr":"5.134.128.0/19","sblid":"SBL270738","rir":"ripencc"}\n{"type":"metadata","timestamp":1}\n{"cidr": 7}\n',
    );
    assert.deepEqual(
      drop.issues.map((i) => [i.line, i.reason]),
      [[5, 'no "cidr" string']],
    );
    const index = new ThreatIndex([firehol, drop]);
    assert.deepEqual(index.matchAddress('1.10.20.1'), {
      feed: 'spamhaus-drop',
      entry: '1.10.16.0/20',
      note: 'SBL256894',
    });
    assert.equal(index.matchAddress('5.134.159.255')?.note, 'SBL270738');
    assert.equal(index.matchAddress('5.134.160.0'), undefined);
    assert.equal(index.matchAddress('203.0.113.200')?.feed, 'firehol_level1');
    assert.equal(index.matchAddress('0.1.2.3')?.entry, '0.0.0.0/8');
    assert.equal(index.matchAddress('2001:db8:ffff::1')?.entry, '2001:db8::/32');
    assert.equal(index.matchAddress('2001:db9::1'), undefined);
    assert.equal(
      index.matchAddress('::ffff:203.0.113.5')?.entry,
      '203.0.113.0/24',
      'an IPv4-mapped address is its IPv4',
    );
    assert.equal(index.matchAddress('198.51.100.1'), undefined);
    assert.equal(index.matchAddress('not-an-address'), undefined);
  });

  it('finds an address inside a wide block listed before many narrow ones', () => {
    const index = new ThreatIndex([
      parseFeed(
        'f',
        'plain',
        [
          '10.0.0.0/8',
          ...Array.from({ length: 1000 }, (_, i) => `10.${i % 250}.${Math.floor(i / 250)}.1`),
        ].join('\n'),
      ),
    ]);
    assert.equal(index.matchAddress('10.255.255.254')?.entry, '10.0.0.0/8');
    assert.equal(index.matchAddress('11.0.0.0'), undefined);
  });

  it('reads SPIFFE ID feeds', () => {
    const feed = parseFeed(
      'ids',
      'spiffe',
      'spiffe://cluster.local/ns/evil/sa/miner\nhttps://not-spiffe\n# comment\n',
    );
    assert.deepEqual(
      feed.issues.map((i) => i.line),
      [2],
    );
    const index = new ThreatIndex([feed]);
    assert.equal(index.matchPrincipal('spiffe://cluster.local/ns/evil/sa/miner')?.feed, 'ids');
    assert.equal(index.matchPrincipal('spiffe://cluster.local/ns/good/sa/web'), undefined);
  });
});
