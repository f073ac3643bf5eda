import type { DataOf, policySubmit } from '@warden/events';
import { bundleKinds, translatorFor, translators } from '@warden/policy-engine';
import type { Translation, TranslateOptions, Translator } from '@warden/policy-engine';

export type Submission = DataOf<typeof policySubmit>;
type PolicySubmission = Exclude<Submission, { kind: 'rollback' }>;

// Every kind the bus accepts has its translator in @warden/policy-engine (else this does not compile).
void (translators satisfies Readonly<Record<PolicySubmission['kind'], Translator>>);

/**
 * Validates and compiles one submission (not a rollback) with the translator of the kind it
 * declares; a kind without one is rejected, never guessed.
 */
export async function compileSubmission(
  submission: PolicySubmission,
  options: TranslateOptions,
): Promise<Translation> {
  const kind: string = submission.kind;
  const translate = translatorFor(kind);
  if (!translate) {
    const message = `unknown policy kind ${JSON.stringify(kind)}; one of ${bundleKinds.join(', ')}`;
    return { ok: false, issues: [{ code: 'unknown_kind', message, line: 1, column: 1, path: 'kind' }] };
  }
  return translate(submission, options);
}
