import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, PORT_RESERVATIONS, reservePort } from './ports.ts';

const mark = (port: number): string => join(PORT_RESERVATIONS, String(port));
const ephemeralLow = Number(
  readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
);

/** Ports 1-999 are never handed out by freePort, so marking them here cannot disturb a parallel test. */
const markFor = (port: number): string => {
  mkdirSync(PORT_RESERVATIONS, { recursive: true });
  return mark(port);
};

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range, each marked with this process', async () => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
    for (const port of ports) {
      assert.ok(port >= 10_000 && port < ephemeralLow, `${port} is outside 10000-${ephemeralLow - 1}`);
      assert.equal(readFileSync(mark(port), 'utf8'), String(process.pid));
    }
  });

  it('leaves a port marked by a live process alone, and takes over the mark of a dead one', () => {
    const live = markFor(901);
    writeFileSync(live, '1');
    assert.equal(reservePort(901), false);
    assert.equal(readFileSync(live, 'utf8'), '1');

    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = markFor(902);
    writeFileSync(stale, String(dead));
    assert.equal(reservePort(902), true);
    assert.equal(readFileSync(stale, 'utf8'), String(process.pid));
    rmSync(live);
    rmSync(stale);
  });

  it('releases its marks when the process exits', () => {
    const script = [
      `import { freePort } from '${new URL('./ports.ts', import.meta.url).href}';`,
      'const ports = []; for (let i = 0; i < 20; i++) ports.push(await freePort());',
      'console.log(JSON.stringify(ports));',
    ].join('\n');
    const ports = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as number[];
    assert.equal(ports.length, 20);
    for (const port of ports) assert.equal(existsSync(mark(port)), false, `mark of ${port} left behind`);
  });
});
