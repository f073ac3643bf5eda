export type { NatsCredential, NatsIdentity } from './credentials.ts';
export { ensureCredentials, natsIdentities, seedFile } from './credentials.ts';
export type { NatsServer, NatsServerOptions } from './nats.ts';
export { natsConfig, startNats } from './nats.ts';
export type { NatsCluster, NatsClusterPlan, NatsNodePorts } from './nats-cluster.ts';
export {
  CLUSTER_JETSTREAM_REPLICAS,
  natsClusterPlan,
  startNatsCluster,
  startNatsNode,
  waitForJetStreamCluster,
} from './nats-cluster.ts';
export type { RouteTls } from './route-tls.ts';
export { ensureRouteTls } from './route-tls.ts';
export { binary, MissingBinaryError, repoRoot, toolsBin } from './paths.ts';
export { freePort } from './ports.ts';
export type { ServerProcess, SpawnOptions } from './process.ts';
export { httpOk, startProcess, StartError } from './process.ts';
export type { RedisAuth, RedisServer } from './redis.ts';
export { redisCommand, redisPing, startRedis } from './redis.ts';
export type { RedisSentinelPlan, RedisSentinelSet, SentinelServer } from './redis-sentinel.ts';
export {
  redisNodeName,
  redisSentinelPlan,
  sentinelName,
  sentinelPrimaryPort,
  startRedisNode,
  startRedisSentinel,
  startSentinel,
  waitForSentinels,
} from './redis-sentinel.ts';
export type { RedisUser } from './redis-acl.ts';
export {
  ensureRedisCredentials,
  redisAclFile,
  redisPasswordFile,
  redisUserNames,
  redisUsers,
  sentinelAclLines,
} from './redis-acl.ts';
export type { VictoriaMetricsServer } from './victoria.ts';
export { startVictoriaMetrics } from './victoria.ts';
export type { RuleCheck, VmalertOptions, VmalertServer } from './vmalert.ts';
export { checkRuleFiles, startVmalert } from './vmalert.ts';
