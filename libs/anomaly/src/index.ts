export { RollingWindow } from './rolling.ts';
export { Calibrator, logisticAbove } from './calibration.ts';
export type { DetectorName, SeriesOptions, SeriesReading } from './series.ts';
export { defaultSeriesOptions, SeriesDetector, TableDetector } from './series.ts';
export type { FeatureTable, ScoreCsvOptions } from './csv.ts';
export { CsvError, parseValue, readFeatureCsv, scoreColumn, scoreCsv, splitCsvLine } from './csv.ts';
export type { FeatureWindow } from './features.ts';
export { Feature, featureNames } from './features.ts';
export type {
  Condition,
  Evidence,
  Observation,
  Rule,
  RuleHit,
  Severity,
  StreamingRulesOptions,
} from './rules.ts';
export { defaultRules, RuleError, StreamingRules, validateRule } from './rules.ts';
export type { TrainOptions, TrainProgress } from './lstm.ts';
export { BaselineScorer, BehaviourModel, defaultAlertScore, ModelError, useWasmBackend } from './lstm.ts';
export type { Evaluation, KindFigures, LabelledWindow } from './evaluate.ts';
export { evaluate } from './evaluate.ts';
export type { GeneratedSeries } from './generated.ts';
export { AnomalyKind, generateSeries } from './generated.ts';
export { Random } from './random.ts';
export type { MeshAttack, MeshDataset, MeshOptions } from './mesh.ts';
export { foldWindows, generateMeshDataset, MeshAttackKind } from './mesh.ts';
export type {
  DetectionFigures,
  KindDetection,
  LstmEvaluation,
  LstmEvaluationOptions,
  RuleAlerts,
} from './mesh-eval.ts';
export { evaluateLstm, evaluateRules, evaluateStaticThresholds, figuresOf } from './mesh-eval.ts';
