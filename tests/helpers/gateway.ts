/** A gateway and its HTTP service for tests: memory state unless asked, quiet logs, cleaned up after the test. */
import OpenAI from 'openai';
import { Writable } from 'node:stream';
import type { GatewayConfigInput } from '../../src/config/config-schema.js';
import { ModelGateway } from '../../src/gateway/model-gateway.js';
import type { GatewayDependencies } from '../../src/gateway/build-runtime.js';
import { GatewayServer } from '../../src/server/http-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { onCleanup } from './cleanup.js';

/** The smallest useful config: one mock provider and model `mock-1`, memory state, no health checks. */
export function mockConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    state: { backend: 'memory' },
    providers: { mock: { type: 'mock' } },
    // The mock stands in for a real model here, so `model: auto` may choose it.
    models: {
      'mock-1': { provider: 'mock', auto: true, capabilities: ['text', 'tool_use', 'vision', 'json_mode', 'streaming', 'embeddings'], context_length: 32768 },
    },
    cache: { enabled: false },
    health: { enabled: false },
    logging: { level: 'silent' },
    ...overrides,
  };
}

/** Log lines a test can read. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  /** Parsed JSON lines. */
  records(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** A started gateway behind an HTTP server on 127.0.0.1:0, an OpenAI client pointed at it, and its logs. */
export async function startTestServer(config: GatewayConfigInput = mockConfig(), dependencies: GatewayDependencies = {}, apiKey = 'unused-key') {
  const logs = new LogCapture();
  const logger = dependencies.logger ?? createLogger({ level: 'info', destination: logs });
  const gateway = new ModelGateway(config, { healthChecks: false, ...dependencies, logger });
  const server = new GatewayServer(gateway, { host: '127.0.0.1', port: 0, logger });
  const address = await server.listen();
  onCleanup(() => server.close());
  const client = new OpenAI({ baseURL: `${address.url}/v1`, apiKey, maxRetries: 0, timeout: 5_000 });
  return { gateway, server, url: address.url, client, logs };
}
