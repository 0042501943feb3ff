import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogDestination, prettyLogLine } from '../src/observability/log-destination.js';
import { createLogger } from '../src/observability/logger.js';
import { onCleanup } from './helpers/cleanup.js';

function tempFile(): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'l04-log-'));
  const path = join(dir, 'out.log');
  const fd = openSync(path, 'w');
  onCleanup(async () => {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });
  return { path, fd };
}

describe('prettyLogLine', () => {
  const time = new Date(2026, 10, 27, 9, 5, 7, 42).toISOString();

  it('reads as one line: local time, level, message, then the fields', () => {
    const line = JSON.stringify({
      level: 'info',
      time,
      pid: 1,
      hostname: 'h',
      request_id: 'req-1',
      model: 'mock-1',
      latency_ms: 12,
      attempts: ['mock-1:ok'],
      msg: 'request completed',
    });
    expect(prettyLogLine(line)).toBe('09:05:07.042 INFO  request completed request_id=req-1 model=mock-1 latency_ms=12 attempts=["mock-1:ok"]\n');
  });

  it('quotes values with spaces, shows an error as its type and message, and keeps one line', () => {
    const line = JSON.stringify({
      level: 'warn',
      time,
      message: 'not configured (no api_key)',
      err: { type: 'GatewayError', message: 'boom\nsecond line', stack: 'GatewayError: boom\n    at x' },
      msg: 'provider health\nchanged',
    });
    const pretty = prettyLogLine(line);
    expect(pretty).toBe('09:05:07.042 WARN  provider health changed message="not configured (no api_key)" err="GatewayError: boom\\nsecond line"\n');
    expect(pretty.split('\n')).toHaveLength(2);
  });

  it('colours the level only when asked, and passes a line that is not JSON through', () => {
    const line = JSON.stringify({ level: 'error', time, msg: 'x' });
    expect(prettyLogLine(line, true)).toContain('\u001b[31mERROR\u001b[0m');
    expect(prettyLogLine(line, false)).not.toContain('\u001b');
    expect(prettyLogLine('plain text')).toBe('plain text\n');
  });
});

describe('createLogDestination', () => {
  it('is pretty on a terminal and JSON otherwise, unless told', () => {
    expect(createLogDestination({ fd: tempFile().fd, isTerminal: true }).format).toBe('pretty');
    expect(createLogDestination({ fd: tempFile().fd, isTerminal: false }).format).toBe('json');
    expect(createLogDestination({ fd: tempFile().fd, isTerminal: true, format: 'json' }).format).toBe('json');
    expect(createLogDestination({ fd: tempFile().fd, isTerminal: false, format: 'pretty' }).format).toBe('pretty');
  });

  it.each(['json', 'pretty'] as const)('writes each %s line at once, before the log call returns (nothing waits in a buffer)', (format) => {
    const { path, fd } = tempFile();
    const logger = createLogger({ level: 'info', destination: createLogDestination({ fd, format, isTerminal: false }) });
    logger.info({ request_id: 'req-sync' }, 'request completed');
    const written = readFileSync(path, 'utf8');
    expect(written).toContain('request completed');
    expect(written).toContain('req-sync');
    if (format === 'json') expect(JSON.parse(written)).toMatchObject({ level: 'info', msg: 'request completed' });
    else expect(written).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}request completed request_id=req-sync\n$/);
  });

  it('does not colour a terminal when NO_COLOR is set', () => {
    const { path, fd } = tempFile();
    const logger = createLogger({ level: 'info', destination: createLogDestination({ fd, isTerminal: true, env: { NO_COLOR: '1' } }) });
    logger.warn('careful');
    expect(readFileSync(path, 'utf8')).toMatch(/ WARN {2}careful\n$/);
  });
});
