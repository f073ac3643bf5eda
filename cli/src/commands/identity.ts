import { readFileSync } from 'node:fs';
import { messageOf } from '@warden/core';
import { caBundle, caToken, enforceRevoke } from '@warden/events';
import { ChainVerificationError, inspectCertificate, parseCertificates, verifyChain } from '@warden/pki';
import { ConfigError, loadConfig } from '@warden/runtime';
import {
  describeCa,
  folderSettings,
  initCa,
  kekProblems,
  readKek,
  rotateCa,
  trustDomainConfig,
} from '@warden/trust-domain';
import type { FolderSettings, TrustDomainSummary } from '@warden/trust-domain';
import type { Command } from '../command.ts';
import { requiredReason, UsageError } from '../command.ts';
import { parseDuration } from './policy.ts';

/** Node separates the parts of a distinguished name with newlines; one line reads better. */
const oneLine = (name: string): string => name.replace(/\n/g, ', ');

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Flags of the offline CA commands, named after the CA's environment variables they override. */
const caStateOptions = {
  dir: { type: 'string' },
  'trust-domain': { type: 'string' },
  algorithm: { type: 'string' },
  'kek-file': { type: 'string' },
} as const;

const MAX_ACTIVATION_DELAY_MS = 30 * 86_400_000;
/** Longer than the agents' default CRL refresh (5 min), with room for a failed fetch. */
const CRL_PROPAGATION_MS = 10 * 60_000;

/**
 * The CA folder's settings for the offline commands, run on the CA's host: the same environment
 * as the CA (WARDEN_CA_DIR, WARDEN_CA_KEK or WARDEN_CA_KEK_FILE, WARDEN_TRUST_DOMAIN, ...), where
 * the flags' values win.
 */
function folderSettingsOf(env: NodeJS.ProcessEnv, values: Record<string, unknown>): FolderSettings {
  const flag = (name: string): string | undefined =>
    typeof values[name] === 'string' ? (values[name] as string) : undefined;
  const flags: NodeJS.ProcessEnv = {
    WARDEN_CA_DIR: flag('dir'),
    WARDEN_TRUST_DOMAIN: flag('trust-domain'),
    WARDEN_CA_KEY_ALGORITHM: flag('algorithm'),
    WARDEN_CA_KEK_FILE: flag('kek-file'),
  };
  const merged: NodeJS.ProcessEnv = { ...env };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  // One source of the KEK: a flag's file replaces an environment value of either kind.
  if (flags['WARDEN_CA_KEK_FILE'] !== undefined) delete merged['WARDEN_CA_KEK'];
  const config = loadConfig('ca', trustDomainConfig, merged);
  const problems = kekProblems(config);
  if (problems.length > 0) throw new ConfigError('ca', problems);
  try {
    return folderSettings(config, readKek(config));
  } catch (err) {
    throw new ConfigError('ca', [`WARDEN_CA_KEK_FILE: ${messageOf(err)}`]);
  }
}

function printSummary(ctx: Parameters<Command['run']>[0], summary: TrustDomainSummary): void {
  ctx.io.out(`trust domain ${summary.trustDomain} (${summary.algorithm}) in ${summary.dir}\n`);
  ctx.io.out(`bundle sequence ${summary.bundleSequence}, roots:\n`);
  for (const r of summary.bundleRoots)
    ctx.io.out(`  root ${r.id}  ${oneLine(r.subject)}  serial ${r.serial}  until ${r.notAfter}\n`);
  ctx.io.out('intermediates:\n');
  for (const i of summary.intermediates)
    ctx.io.out(
      `  ${i.id}  ${oneLine(i.subject)}  under root ${i.root}  from ${i.activateAt}  until ${i.notAfter}  ${i.state}\n`,
    );
}

export const identityCommands: Command[] = [
  {
    path: ['token', 'create'],
    summary: 'a single-use join token bound to one SPIFFE ID (the CA keeps only its hash)',
    args: '<spiffe-id> [--ttl 1h]',
    options: { ttl: { type: 'string', default: '1h' } },
    async run(ctx, positionals, values) {
      const [spiffeId] = positionals;
      if (!spiffeId) throw new UsageError('which SPIFFE ID? e.g. spiffe://cluster.local/ns/shop/sa/cart');
      const ttlSeconds = Math.round(parseDuration(String(values['ttl'])) / 1000);
      const reply = await (await ctx.bus()).request(caToken, { spiffeId, ttlSeconds });
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(reply)}\n`);
      else ctx.io.out(`${reply.token}\n`);
      ctx.io.err(`for ${reply.spiffeId}, single use, expires ${reply.expiresAt}\n`);
      return 0;
    },
  },
  {
    path: ['ca', 'status'],
    summary: 'the trust domain and the roots in its bundle; with --dir, every CA generation on disk',
    args: '[--dir WARDEN_CA_DIR --kek-file F]',
    options: caStateOptions,
    async run(ctx, _positionals, values) {
      if (typeof values['dir'] === 'string') {
        const summary = await describeCa(folderSettingsOf(ctx.env, values));
        if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(summary, null, 2)}\n`);
        else printSummary(ctx, summary);
        return 0;
      }
      const bundle = await (await ctx.bus()).request(caBundle, {});
      const roots = bundle.rootsPem.flatMap((pem) =>
        parseCertificates(pem, 'trust bundle').map((c) => inspectCertificate(c)),
      );
      if (ctx.output === 'json') {
        ctx.io.out(
          `${JSON.stringify({ ...bundle, roots: roots.map(({ der: _der, ...r }) => r) }, null, 2)}\n`,
        );
        return 0;
      }
      ctx.io.out(`trust domain ${bundle.trustDomain}, bundle sequence ${bundle.sequence}\n`);
      for (const r of roots) {
        ctx.io.out(
          `  root ${oneLine(r.subject)}  serial ${r.serial}  valid ${r.notBefore.toISOString()} .. ${r.notAfter.toISOString()}\n`,
        );
      }
      return 0;
    },
  },
  {
    path: ['ca', 'init'],
    summary: 'create the trust domain (root and intermediate, keys sealed) in the CA folder, on the CA host',
    args: '[--dir WARDEN_CA_DIR] [--trust-domain TD] [--algorithm ecdsa-p256|rsa-2048] [--kek-file F]',
    options: caStateOptions,
    async run(ctx, _positionals, values) {
      const summary = await initCa(folderSettingsOf(ctx.env, values));
      if (ctx.output === 'json') ctx.io.out(`${JSON.stringify(summary, null, 2)}\n`);
      else printSummary(ctx, summary);
      return 0;
    },
  },
  {
    path: ['ca', 'rotate'],
    summary:
      'add a new intermediate (or, with --root, a new root and intermediate); the running CA switches at --activate-in',
    args: '[--root] [--activate-in 15m] [--dir WARDEN_CA_DIR] [--kek-file F]',
    options: {
      dir: caStateOptions.dir,
      'trust-domain': caStateOptions['trust-domain'],
      'kek-file': caStateOptions['kek-file'],
      root: { type: 'boolean', default: false },
      'activate-in': { type: 'string', default: '15m' },
    },
    async run(ctx, _positionals, values) {
      const newRoot = values['root'] === true;
      // The new generation is published at once (a new root in the bundle, every live
      // intermediate's CRL in crl.pem) and signs only after this head start, so that verifiers
      // trust it, and peers that check CRLs hold its CRL, before the first leaf chains to it.
      const delay = parseDuration(String(values['activate-in']));
      if (delay > MAX_ACTIVATION_DELAY_MS)
        throw new UsageError('--activate-in: at most 30d (a rotation is meant to complete)');
      const activateAt = new Date(Date.now() + delay);
      const { rotation, summary } = await rotateCa(folderSettingsOf(ctx.env, values), {
        newRoot,
        activateAt,
      });
      if (ctx.output === 'json') {
        ctx.io.out(`${JSON.stringify({ rotation, ...summary }, null, 2)}\n`);
        return 0;
      }
      ctx.io.out(
        `intermediate ${rotation.intermediate} under root ${rotation.root} signs from ${rotation.activateAt.toISOString()}; ` +
          'a running CA reads the change within a second (its log and warden_ca_manifest_reloads_total confirm it)\n',
      );
      if (delay < CRL_PROPAGATION_MS)
        ctx.io.err(
          'warning: peers that check CRLs refuse the new leaves until their crl.pem holds the new CRL ' +
            '(agents fetch it every WARDEN_AGENT_CRL_REFRESH_MS, 5 min by default, and at each bundle change)\n',
        );
      printSummary(ctx, summary);
      return 0;
    },
  },
  {
    path: ['ca', 'revoke'],
    summary: 'revoke every certificate of a SPIFFE ID, or one serial; enforcers deny it within a second',
    args: '<spiffe-id|serial> --reason TEXT',
    options: { reason: { type: 'string' } },
    async run(ctx, positionals, values) {
      const [what] = positionals;
      if (!what) throw new UsageError('revoke what? a spiffe:// ID or a certificate serial');
      const reason = requiredReason(values['reason']);
      const data = what.startsWith('spiffe://')
        ? { principal: what, reason }
        : { serial: what.toLowerCase(), reason };
      const ack = await (await ctx.bus()).publish(enforceRevoke, data);
      ctx.io.out(
        `revocation of ${what} requested (stored as #${ack?.seq ?? '?'} in ${ack?.stream ?? '?'})\n`,
      );
      return 0;
    },
  },
  {
    path: ['cert', 'inspect'],
    summary: 'a certificate chain: SPIFFE ID, validity, and (with the CA reachable or --bundle) chain status',
    args: '<pem-file> [--bundle <pem-file>]',
    options: { bundle: { type: 'string' } },
    async run(ctx, positionals, values) {
      const [file] = positionals;
      if (!file) throw new UsageError('which PEM file?');
      const pem = readPem(file);
      const chain = parseCertificates(pem);
      const infos = chain.map((c) => inspectCertificate(c));
      let roots: string | string[] | null =
        typeof values['bundle'] === 'string' ? readPem(values['bundle']) : null;
      let note = '';
      if (roots === null) {
        try {
          roots = (await (await ctx.bus()).request(caBundle, {}, { timeoutMs: 3000 })).rootsPem;
        } catch (err) {
          note = `chain not checked: no --bundle and no CA (${err instanceof Error ? err.message : String(err)})`;
        }
      }
      let status: { ok: boolean; detail: string } | null = null;
      if (roots !== null) {
        try {
          const verified = verifyChain({ chain: pem, roots });
          status = {
            ok: true,
            detail: `valid, ends at ${oneLine(verified.path.at(-1)?.subject ?? 'a bundle root')}`,
          };
        } catch (err) {
          if (!(err instanceof ChainVerificationError)) throw err;
          status = { ok: false, detail: `${err.problem}: ${err.message}` };
        }
      }
      if (ctx.output === 'json') {
        ctx.io.out(
          `${JSON.stringify({ certificates: infos.map(({ der: _der, ...i }) => i), chain: status ?? note }, null, 2)}\n`,
        );
      } else {
        for (const [i, c] of infos.entries()) {
          ctx.io.out(`[${i}] ${c.isCa ? 'CA ' : ''}${c.spiffeId ?? oneLine(c.subject)}\n`);
          ctx.io.out(`    serial ${c.serial}, issuer ${oneLine(c.issuer)}\n`);
          ctx.io.out(`    valid ${c.notBefore.toISOString()} .. ${c.notAfter.toISOString()}\n`);
        }
        ctx.io.out(status ? `chain: ${status.ok ? 'OK' : 'INVALID'} (${status.detail})\n` : `${note}\n`);
      }
      return status === null || status.ok ? 0 : 1;
    },
  },
];
