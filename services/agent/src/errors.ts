import { WardenError } from '@warden/core';
import { describeFileIssues } from '@warden/runtime';
import type { PositionedIssue } from '@warden/runtime';

export type { PositionedIssue };

/** Errors of the agent; their code labels logs and metrics. Tests check the class, not the message. */
export class AgentError extends WardenError {}

/** The base of an agent error whose class fixes its code: `new CacheError(message, { cause })`. */
const withCode = (code: string) =>
  class extends AgentError {
    constructor(message: string, options?: ErrorOptions) {
      super(code, message, options);
    }
  };

/** The entries file is not valid: every problem with its line and column. */
export class EntriesFileError extends AgentError {
  readonly file: string;
  readonly issues: readonly PositionedIssue[];
  constructor(file: string, issues: readonly PositionedIssue[]) {
    super('invalid_entries_file', describeFileIssues(`invalid entries file ${file}:`, file, issues));
    this.file = file;
    this.issues = issues;
  }
}

/** A registration entry from an event that cannot be used (bad name, foreign trust domain). */
export class InvalidEntryError extends withCode('invalid_entry') {}

/** The CA's answer does not match what was asked (another identity, another key, a bad chain). */
export class BadIssuanceError extends withCode('bad_issuance') {}

/** A trust bundle from the CA or an event that cannot be used (another trust domain, unreadable roots). */
export class BundleError extends withCode('bad_bundle') {}

/** A cached file that cannot be trusted (unreadable, too large, key and certificate apart). */
export class CacheError extends withCode('cache_invalid') {}

/** The SDS socket path is taken by something that is not a socket; the agent never deletes it. */
export class SdsSocketError extends withCode('sds_socket') {}

/** Nothing left to prove the identity with: no valid SVID and no unused join token. */
export class NoEvidenceError extends AgentError {
  constructor(spiffeId: string) {
    super('no_evidence', `${spiffeId}: no valid SVID to renew with and no unused join token`);
  }
}

/** Why a CRL from WARDEN_AGENT_CRL_URL was not used; the `code` labels the failure metric. */
export const CrlProblem = {
  /** The URL could not be fetched: network, timeout, or a status other than 200. */
  unavailable: 'crl_unavailable',
  /** The body is not PEM CRLs, is larger than allowed, or holds two CRLs of one issuer. */
  invalid: 'crl_invalid',
  /** No CRL signed by a root of the bundle (or no bundle yet), a bad signature, or an unknown issuer. */
  untrusted: 'crl_untrusted',
  /** Outside its validity window (or without one), so TLS stacks would refuse it too. */
  notCurrent: 'crl_not_current',
  /** A CRL older than the one held from the same issuer: a replay or a stale cache would un-revoke. */
  olderThanHeld: 'crl_older_than_held',
  /** A revocation the agent saw as an event still missing from the CA's CRL after the wait. */
  missingRevocation: 'crl_missing_revocation',
} as const;
export type CrlProblem = (typeof CrlProblem)[keyof typeof CrlProblem];

/** A CRL fetch or check failed; the previous crl.pem stays in place. */
export class CrlError extends AgentError {
  constructor(code: CrlProblem, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
