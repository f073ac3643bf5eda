export {
  Action,
  apiVersions,
  DecisionReason,
  DEFAULT_ROOT_NAMESPACE,
  defaultMeshDefault,
} from './authz/model.ts';
export type {
  AuthorizationPolicy,
  AuthzRequest,
  Condition,
  Decision,
  DecisionResponse,
  MeshDefault,
  Operation,
  Rule,
  Source,
} from './authz/model.ts';
export { checkMeshDefault, MESH_DEFAULTS_KIND, parseMeshDefault } from './authz/mesh-default.ts';
export type { MeshDefaultCheck, MeshDefaultParse, MeshDefaultProblem } from './authz/mesh-default.ts';
export { BundleKind, bundleKinds, buildPolicyRevision, parsePolicyBundle } from './bundle.ts';
export type { AuthorizationPolicyBundle, MeshDefaultsBundle, PolicyBundle, RegoBundle } from './bundle.ts';
export {
  declaredKind,
  MESH_SCOPE,
  policyFileExtensions,
  translatorFor,
  translators,
  yamlKinds,
} from './translate.ts';
export type { PolicyText, TranslatedPolicy, Translation, TranslateOptions, Translator } from './translate.ts';
export { attributes, parseConditionKey } from './authz/attributes.ts';
export type { Attribute } from './authz/attributes.ts';
export { parseAuthorizationPolicies } from './authz/parse.ts';
export type { ParseOptions, ParseResult } from './authz/parse.ts';
export { PolicyRevision } from './authz/revision.ts';
export type { CustomProvider, RevisionOptions } from './authz/revision.ts';
export { compileAuthorizationPolicies, Engine } from './authz/engine.ts';
export {
  InvalidBundleError,
  InvalidDecisionError,
  InvalidRequestError,
  PolicyEngineError,
  PolicyRejectedError,
  RegoLoadError,
  RegoToolError,
  UnknownKindError,
} from './errors.ts';
export { checkDataLimits, DEFAULT_POLICY_LIMITS, nestsDeeperThan } from './limits.ts';
export type { PolicyLimits } from './limits.ts';
export type { Issue } from './errors.ts';
export { compileRego, parseOpaJson, parseOpaText } from './rego/compile.ts';
export type { CompiledRego, RegoCompileOptions, RegoSource } from './rego/compile.ts';
export { buildEnvoyInput } from './rego/input.ts';
export type { EnvoyInput, EnvoyInputOptions } from './rego/input.ts';
export { validateDecision } from './rego/decision.ts';
export type { HeaderList, RegoDecision } from './rego/decision.ts';
export { DEFAULT_MAX_MEMORY_PAGES, RegoPolicy } from './rego/policy.ts';
export type { RegoLoadOptions, RegoOutcome } from './rego/policy.ts';
export { analyzePolicies, FindingKind } from './analysis/analyze.ts';
export type { AnalyzeOptions, Finding, KnownWorkload } from './analysis/analyze.ts';
export { minimizePolicies } from './analysis/minimize.ts';
export type { MinimizeChange, MinimizeResult } from './analysis/minimize.ts';
export { checkEquivalence, generateRequests, prng } from './analysis/equivalence.ts';
export type { EquivalenceReport, Mismatch } from './analysis/equivalence.ts';
export { generateCorpus } from './analysis/corpus.ts';
export { fieldCovers, patternCovers, ruleCovers, scopeCovers } from './analysis/subsume.ts';
export { formatAuthorizationPolicies } from './authz/format.ts';
export { deniedEdges, requestForEdge, suggestPolicies } from './analysis/suggest.ts';
export type {
  NotAllowed,
  ObservedEdge,
  SuggestOptions,
  Suggestion,
  SuggestWorkload,
} from './analysis/suggest.ts';
export {
  BuiltinContext,
  BuiltinError,
  BuiltinEvalError,
  OPA_WASM_JS_BUILTINS,
  PROVIDED_BUILTINS,
  WARDEN_BUILTINS,
  createBuiltins,
} from './rego/builtins/index.ts';
export type { BuiltinOptions } from './rego/builtins/index.ts';
export { UnsupportedBuiltinError, importedBuiltins } from './rego/builtins/imports.ts';
