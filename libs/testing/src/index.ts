export { publishMalformed, testAlert, testRegistration } from './bus.ts';
export type { CapturedOutput, OutputStreams } from './cli.ts';
export { captureOutput, cliEnv } from './cli.ts';
export { FakeKubeApiServer } from './fake-kube-api.ts';
export { eventually, promQuery } from './poll.ts';
export type { TestNats, TestRedis, TestVictoriaMetrics } from './harness.ts';
export { redisCommand } from '@warden/infra';
export {
  startTestNats,
  startTestRedis,
  startTestVictoriaMetrics,
  tempDir,
  useNats,
  useRedis,
  useVictoriaMetrics,
} from './harness.ts';
export type { TestLeaf, TestLeafOptions, TestTrustDomain, TestTrustDomainOptions } from './trust-domain.ts';
export { crlBlocks, testLeaf, testTrustDomain, writeAgentFiles } from './trust-domain.ts';
export type { CallOutcome, XdsWorkload } from './xds.ts';
export { startXdsWorkload, writeXdsBootstrap, xdsWorkloadFiles } from './xds.ts';
