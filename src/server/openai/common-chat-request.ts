/**
 * The common shape of a chat request, checked by hand: text messages (system, developer, user and
 * assistant, content a string or null, no tool calls) and the scalar parameters. For a body that
 * passes, every field the face reads has the value `ChatCompletionRequestSchema` would give it (the
 * schema has no defaults or transforms on these fields; it only drops the unknown ones, which the
 * face does not read), so the face reads the body as it is. Anything else — tools, images, tool
 * results, `response_format`, the `l04` extension, or anything invalid — goes to the schema, whose
 * E4500 names the field. Why by hand: see `src/models/common-request.ts`.
 * `tests/openai-face-common.test.ts` holds the two together on generated requests.
 */
import { REQUEST_LIMITS } from '../../models/inference-request.js';
import type { ChatCompletionRequest } from './openai-chat.js';
import { isRecord } from '../../util/is-record.js';

const EFFORTS: ReadonlySet<unknown> = new Set(['minimal', 'low', 'medium', 'high']);
const TEXT_ROLES: ReadonlySet<unknown> = new Set(['system', 'developer', 'user']);

/** Whether `body` is a valid chat request of the common shape (see the file comment). */
export function isCommonChatRequest(body: unknown): body is ChatCompletionRequest {
  if (!isRecord(body)) return false;
  if (typeof body.model !== 'string' || body.model.length < 1 || body.model.length > 256) return false;
  if (body.tools !== undefined || body.tool_choice !== undefined || body.response_format !== undefined || body.l04 !== undefined) return false;
  if (!(body.stream === undefined || typeof body.stream === 'boolean')) return false;
  const streamOptions = body.stream_options;
  if (streamOptions != null && !(isRecord(streamOptions) && (streamOptions.include_usage === undefined || typeof streamOptions.include_usage === 'boolean')))
    return false;
  if (!(nullishCount(body.max_tokens) && nullishCount(body.max_completion_tokens))) return false;
  if (!(nullishNumber(body.temperature, 0, 2) && nullishNumber(body.top_p, 0, 1))) return false;
  if (!(nullishNumber(body.presence_penalty, -2, 2) && nullishNumber(body.frequency_penalty, -2, 2))) return false;
  if (!(body.seed == null || Number.isSafeInteger(body.seed)) || !(body.n == null || body.n === 1)) return false;
  if (!(body.user === undefined || (typeof body.user === 'string' && body.user.length <= 1024))) return false;
  if (!(body.parallel_tool_calls == null || typeof body.parallel_tool_calls === 'boolean')) return false;
  if (!(body.reasoning_effort == null || EFFORTS.has(body.reasoning_effort))) return false;
  const stop = body.stop;
  if (
    stop != null &&
    typeof stop !== 'string' &&
    !(Array.isArray(stop) && stop.length <= REQUEST_LIMITS.maxStopSequences && stop.every((item) => typeof item === 'string'))
  )
    return false;
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length < 1 || messages.length > REQUEST_LIMITS.maxMessages) return false;
  for (const message of messages as unknown[]) {
    if (!isRecord(message)) return false;
    const content = message.content;
    if (TEXT_ROLES.has(message.role)) {
      if (!(content === null || typeof content === 'string')) return false;
    } else if (message.role === 'assistant') {
      if (!(content == null || typeof content === 'string') || message.tool_calls !== undefined) return false;
    } else {
      return false;
    }
  }
  return true;
}

/** `z.number().int().positive().nullish()`. */
function nullishCount(value: unknown): boolean {
  return value == null || (Number.isSafeInteger(value) && (value as number) > 0);
}

/** `z.number().min(min).max(max).nullish()`. */
function nullishNumber(value: unknown, min: number, max: number): boolean {
  return value == null || (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max);
}
