/**
 * Native stream events → Anthropic's SSE event sequence (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
 * `message_start`, a `ping`, then for each content block `content_block_start`, its deltas
 * (`text_delta`, `thinking_delta`, `signature_delta`, `input_json_delta`) and `content_block_stop`,
 * then `message_delta` (stop reason and usage) and `message_stop`. A failure after the start is one
 * `error` event. Blocks are opened in the order the native events arrive: reasoning, text and tool
 * calls each start a new block when the kind (or the tool call) changes.
 */
import type { ServerResponse } from 'node:http';
import type { GatewayStreamEvent } from '../../models/gateway-events.js';
import type { InferenceResponse } from '../../models/inference-response.js';
import { writeSse } from '../sse.js';
import { toAnthropicError } from './anthropic-errors.js';
import { anthropicStopReason, messageId, toAnthropicUsage } from './anthropic-message-response.js';

type OpenBlock = { kind: 'text' } | { kind: 'thinking' } | { kind: 'tool'; toolIndex: number };

/** Writes one Anthropic event stream; call `start` once, then `event` for each native event. */
export class AnthropicSseWriter {
  private readonly response: ServerResponse;
  private blockIndex = -1;
  private open: OpenBlock | undefined;
  private done = false;
  /** Epoch milliseconds of the last write (pings go out only after a silence). */
  lastWriteAt = 0;

  constructor(response: ServerResponse) {
    this.response = response;
  }

  /** Whether `message_stop` or `error` has been written. */
  get ended(): boolean {
    return this.done;
  }

  /** `message_start` and the first `ping`. `inputTokens` is an estimate: the real count comes with `message_delta`. */
  async start(requestId: string, model: string, inputTokens: number, now: number): Promise<void> {
    await this.write(
      'message_start',
      {
        type: 'message_start',
        message: {
          id: messageId(requestId),
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: inputTokens, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
      now,
    );
    await this.ping(now);
  }

  /** A keep-alive `ping`. */
  async ping(now: number): Promise<void> {
    if (!this.done) await this.write('ping', { type: 'ping' }, now);
  }

  /** Translates one native event (after `start`); `finish` and `error` end the stream. */
  async event(event: Exclude<GatewayStreamEvent, { type: 'start' }>, now: number): Promise<void> {
    switch (event.type) {
      case 'text-delta':
        if (this.open?.kind !== 'text') await this.openBlock({ kind: 'text' }, { type: 'text', text: '' }, now);
        await this.delta({ type: 'text_delta', text: event.text }, now);
        return;
      case 'reasoning-delta':
        if (event.redacted !== undefined) {
          await this.openBlock({ kind: 'thinking' }, { type: 'redacted_thinking', data: event.redacted }, now);
          await this.closeBlock(now);
          return;
        }
        if (this.open?.kind !== 'thinking') await this.openBlock({ kind: 'thinking' }, { type: 'thinking', thinking: '', signature: '' }, now);
        if (event.text !== '') await this.delta({ type: 'thinking_delta', thinking: event.text }, now);
        if (event.signature !== undefined) {
          await this.delta({ type: 'signature_delta', signature: event.signature }, now);
          // A signature closes its block: the next reasoning is a block of its own.
          await this.closeBlock(now);
        }
        return;
      case 'tool-call-delta':
        if (this.open?.kind !== 'tool' || this.open.toolIndex !== event.index) {
          await this.openBlock(
            { kind: 'tool', toolIndex: event.index },
            { type: 'tool_use', id: event.id ?? `toolu_${event.index}`, name: event.name ?? '', input: {} },
            now,
          );
        }
        if (event.arguments_delta !== '') await this.delta({ type: 'input_json_delta', partial_json: event.arguments_delta }, now);
        return;
      case 'finish':
        await this.finish(event.response, now);
        return;
      case 'error': {
        const rendered = toAnthropicError(event.error);
        this.done = true;
        await this.write('error', rendered.body, now);
        this.response.end();
        return;
      }
      default: {
        const exhaustive: never = event;
        throw new Error(`unknown stream event ${JSON.stringify(exhaustive)}`);
      }
    }
  }

  private async finish(response: InferenceResponse, now: number): Promise<void> {
    await this.closeBlock(now);
    await this.write(
      'message_delta',
      { type: 'message_delta', delta: { stop_reason: anthropicStopReason(response), stop_sequence: null }, usage: toAnthropicUsage(response.token_usage) },
      now,
    );
    this.done = true;
    await this.write('message_stop', { type: 'message_stop' }, now);
    this.response.end();
  }

  private async openBlock(block: OpenBlock, contentBlock: Record<string, unknown>, now: number): Promise<void> {
    await this.closeBlock(now);
    this.blockIndex++;
    this.open = block;
    await this.write('content_block_start', { type: 'content_block_start', index: this.blockIndex, content_block: contentBlock }, now);
  }

  private async closeBlock(now: number): Promise<void> {
    if (this.open === undefined) return;
    this.open = undefined;
    await this.write('content_block_stop', { type: 'content_block_stop', index: this.blockIndex }, now);
  }

  private async delta(delta: Record<string, unknown>, now: number): Promise<void> {
    await this.write('content_block_delta', { type: 'content_block_delta', index: this.blockIndex, delta }, now);
  }

  private async write(event: string, data: unknown, now: number): Promise<void> {
    this.lastWriteAt = now;
    await writeSse(this.response, event, data);
  }
}
