import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkConfig,
  deleteMapEntry,
  detectQat,
  LOCKDOWN_KEY,
  mapKeys,
  putMapEntry,
  renderTerminator,
  replaceCertificate,
  runtimeCommand,
  terminatorFiles,
} from '@warden/haproxy';
import type { TerminatorFiles } from '@warden/haproxy';
import { binary, startProcess } from '@warden/infra';
import type { ServerProcess } from '@warden/infra';
import type { Logger } from '@warden/runtime';
import type { ContainmentRule } from './containment.ts';
import { terminatorEntries } from './containment-haproxy.ts';
import type { TerminatorSpec } from './terminators-file.ts';

export type TerminatorStatus = {
  workload: string;
  bind: string;
  pid: number | null;
  adopted: boolean;
  qat: string;
  quarantinedIdentities: number;
  quarantinedAddresses: number;
  revokedSerials: number;
  lockdown: boolean;
};

type Running = {
  spec: TerminatorSpec;
  files: TerminatorFiles;
  process: ServerProcess | undefined;
  qat: string;
  /** Digest of the certificate last given to HAProxy. */
  certificate: string;
  applied: { identities: number; addresses: number; serials: number; lockdown: boolean };
};

export type RuntimeCall = (command: string, outcome: 'ok' | 'error') => void;

const serverPem = (dir: string): string =>
  `${readFileSync(join(dir, 'cert-chain.pem'), 'utf8').trimEnd()}\n${readFileSync(join(dir, 'key.pem'), 'utf8')}`;

/**
 * The HAProxy terminators the enforcer drives: renders each one's configuration, starts it (or
 * adopts one already answering on its runtime socket), and keeps its deny maps and certificate in
 * step with containment, revocations and the agent's files through the runtime API, never a reload.
 */
export class Terminators {
  readonly #running: Running[] = [];
  readonly #dir: string;
  readonly #trustDomain: string;
  readonly #log: Logger;
  readonly #counted: RuntimeCall;

  constructor(options: { dir: string; trustDomain: string; log: Logger; runtimeCall: RuntimeCall }) {
    this.#dir = options.dir;
    this.#trustDomain = options.trustDomain;
    this.#log = options.log;
    this.#counted = options.runtimeCall;
  }

  /** Starts every terminator with maps already holding `rules` and `revoked`, so none starts open. */
  async start(
    specs: readonly TerminatorSpec[],
    rules: readonly ContainmentRule[],
    revoked: ReadonlySet<string>,
  ): Promise<void> {
    for (const spec of specs) this.#running.push(await this.#start(spec, rules, revoked));
  }

  async #start(
    spec: TerminatorSpec,
    rules: readonly ContainmentRule[],
    revoked: ReadonlySet<string>,
  ): Promise<Running> {
    const dir = join(this.#dir, spec.workload.replace('/', '_'));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = (name: string) => join(dir, name);
    const files = terminatorFiles(dir, spec.certificateDir);
    const pem = serverPem(spec.certificateDir);
    writeFileSync(files.certificate, pem, { mode: 0o600 });
    // HAProxy refuses a crl-file it cannot read; an agent that has no CRL yet leaves none.
    if (!existsSync(files.crlFile))
      throw new Error(`${spec.workload}: ${files.crlFile} is missing (the agent writes it)`);
    const entries = this.#entries(spec, rules);
    const lines = (m: ReadonlyMap<string, string>) => [...m].map(([k, v]) => `${k} ${v}\n`).join('');
    writeFileSync(files.identityMap, lines(entries.identities));
    writeFileSync(files.addressMap, lines(entries.addresses));
    writeFileSync(files.revokedSerialMap, [...revoked].map((s) => `${s} revoked\n`).join(''));
    writeFileSync(files.lockdownMap, entries.lockdown ? `${LOCKDOWN_KEY} ${entries.lockdown}\n` : '');
    writeFileSync(files.lockdownAllowIdentityMap, lines(entries.lockdownAllowIdentities));
    writeFileSync(files.lockdownAllowAddressMap, lines(entries.lockdownAllowAddresses));

    let qat = 'not requested';
    let qatOption: { providerPath: string } | undefined;
    if (spec.qatProviderPath) {
      const found = await detectQat(spec.qatProviderPath);
      qat = found.available ? 'available' : `unavailable: ${found.reason}`;
      if (found.available) qatOption = { providerPath: spec.qatProviderPath };
      else
        this.#log.warn(
          { workload: spec.workload, reason: found.reason },
          'QAT: unavailable; software crypto',
        );
    }
    const [namespace = '', name = ''] = spec.workload.split('/');
    const config = file('haproxy.cfg');
    writeFileSync(
      config,
      renderTerminator({
        workload: spec.workload,
        bind: spec.bind,
        backend: spec.backend,
        files,
        ...(qatOption ? { qat: qatOption } : {}),
      }),
    );
    const haproxy = binary('haproxy');
    const check = await checkConfig(config, haproxy);
    if (!check.valid) throw new Error(`${spec.workload}: haproxy -c refused ${config}:\n${check.output}`);

    const answering = existsSync(files.runtimeSocket)
      ? await runtimeCommand(files.runtimeSocket, 'show info', undefined, 1000).catch(() => '')
      : '';
    const running: Running = {
      spec,
      files,
      process: undefined,
      qat,
      certificate: '',
      applied: { identities: 0, addresses: 0, serials: revoked.size, lockdown: false },
    };
    if (/Name: HAProxy/.test(answering)) {
      this.#log.info({ workload: spec.workload }, 'adopted a running HAProxy terminator');
      await this.#syncOne(running, rules, revoked);
    } else {
      running.process = await startProcess({
        name: `haproxy-${namespace}-${name}`,
        command: haproxy,
        args: ['-f', config, '-db'],
        logFile: file('haproxy.log'),
        ready: async () =>
          existsSync(files.runtimeSocket) &&
          /Name: HAProxy/.test(
            await runtimeCommand(files.runtimeSocket, 'show info', undefined, 1000).catch(() => ''),
          ),
      });
      running.applied = {
        identities: entries.identities.size,
        addresses: entries.addresses.size,
        serials: revoked.size,
        lockdown: entries.lockdown !== undefined,
      };
    }
    running.certificate = createHash('sha256').update(pem).digest('hex');
    this.#log.info(
      { workload: spec.workload, bind: `${spec.bind.address}:${spec.bind.port}`, qat },
      'terminator serving',
    );
    return running;
  }

  #entries(spec: TerminatorSpec, rules: readonly ContainmentRule[]) {
    const [namespace = '', name = ''] = spec.workload.split('/');
    return terminatorEntries(rules, { namespace, name, trustDomain: this.#trustDomain }, new Date());
  }

  /** Brings every terminator's maps and certificate to the wanted state; one failure does not stop the rest. */
  async sync(rules: readonly ContainmentRule[], revoked: ReadonlySet<string>): Promise<void> {
    for (const running of this.#running) {
      await this.#syncOne(running, rules, revoked).catch((err: unknown) =>
        this.#log.error(
          { err, workload: running.spec.workload },
          'terminator not updated; retrying next time',
        ),
      );
    }
  }

  async #call<T>(command: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.#counted(command, 'ok');
      return result;
    } catch (err) {
      this.#counted(command, 'error');
      throw err;
    }
  }

  async #syncMap(socket: string, map: string, wanted: ReadonlyMap<string, string>): Promise<void> {
    const present = new Set(await this.#call('show map', () => mapKeys(socket, map)));
    for (const [key, value] of wanted)
      if (!present.has(key)) await this.#call('add map', () => putMapEntry(socket, map, key, value));
    for (const key of present)
      if (!wanted.has(key)) await this.#call('del map', () => deleteMapEntry(socket, map, key));
  }

  async #syncOne(
    running: Running,
    rules: readonly ContainmentRule[],
    revoked: ReadonlySet<string>,
  ): Promise<void> {
    const { files, spec } = running;
    const socket = files.runtimeSocket;
    const entries = this.#entries(spec, rules);
    await this.#syncMap(socket, files.identityMap, entries.identities);
    await this.#syncMap(socket, files.addressMap, entries.addresses);
    await this.#syncMap(socket, files.revokedSerialMap, new Map([...revoked].map((s) => [s, 'revoked'])));
    await this.#syncMap(
      socket,
      files.lockdownMap,
      entries.lockdown ? new Map([[LOCKDOWN_KEY, entries.lockdown]]) : new Map(),
    );
    await this.#syncMap(socket, files.lockdownAllowIdentityMap, entries.lockdownAllowIdentities);
    await this.#syncMap(socket, files.lockdownAllowAddressMap, entries.lockdownAllowAddresses);
    running.applied = {
      identities: entries.identities.size,
      addresses: entries.addresses.size,
      serials: revoked.size,
      lockdown: entries.lockdown !== undefined,
    };
    const pem = serverPem(spec.certificateDir);
    const digest = createHash('sha256').update(pem).digest('hex');
    if (digest !== running.certificate) {
      await this.#call('set ssl cert', () => replaceCertificate(socket, files.certificate, pem));
      writeFileSync(files.certificate, pem, { mode: 0o600 });
      running.certificate = digest;
      this.#log.info({ workload: spec.workload }, 'terminator certificate rotated without a reload');
    }
  }

  status(): TerminatorStatus[] {
    return this.#running.map((r) => ({
      workload: r.spec.workload,
      bind: `${r.spec.bind.address}:${r.spec.bind.port}`,
      pid: r.process?.child.pid ?? null,
      adopted: r.process === undefined,
      qat: r.qat,
      quarantinedIdentities: r.applied.identities,
      quarantinedAddresses: r.applied.addresses,
      revokedSerials: r.applied.serials,
      lockdown: r.applied.lockdown,
    }));
  }

  /** Stops the terminators this enforcer started (adopted ones keep serving what they were given). */
  async stop(): Promise<void> {
    for (const r of this.#running.splice(0)) await r.process?.stop();
  }
}
