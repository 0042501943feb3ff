/**
 * Once per `npm test` run: a throwaway three-master Redis Cluster (tests/helpers/redis-cluster.ts)
 * for the suites that run against a real cluster. Its URLs are provided to the test files; it is
 * joined in the background, and killed (its folder removed) when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './helpers/redis-cluster.js';

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startRedisCluster(3);
  project.provide('redisClusterNodes', cluster.urls);
  project.provide('redisClusterLog', cluster.logFile);
  return () => cluster.stop();
}
