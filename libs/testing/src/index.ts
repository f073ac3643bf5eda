export type { TestNats, TestRedis, TestVictoriaMetrics } from './harness.ts';
export {
  redisCommand,
  startTestNats,
  startTestRedis,
  startTestVictoriaMetrics,
  tempDir,
  useNats,
  useRedis,
  useVictoriaMetrics,
} from './harness.ts';
