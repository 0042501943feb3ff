/** Spans of provider attempts, with the GenAI semantic-convention attributes. */
import type { Attributes } from '@opentelemetry/api';
import type { InferenceResponse } from '../models/inference-response.js';
import type { StreamPart } from '../providers/base.js';
import { GENAI, recordSpanError, startSpan } from '../observability/tracing.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { RegisteredModel } from '../models/model-config.js';

/** GenAI attributes of a provider attempt. */
export function attemptAttributes(model: RegisteredModel, exchange: Exchange): Attributes {
  return {
    [GENAI.SYSTEM]: model.provider,
    [GENAI.PROVIDER_NAME]: model.provider,
    [GENAI.REQUEST_MODEL]: model.provider_model,
    [GENAI.OPERATION_NAME]: 'chat',
    [GENAI.REQUEST_MAX_TOKENS]: Math.min(exchange.request.requirements.max_output_tokens, model.max_output_tokens),
    ...(exchange.request.logical_prompt.temperature === undefined ? {} : { [GENAI.REQUEST_TEMPERATURE]: exchange.request.logical_prompt.temperature }),
  };
}

/** GenAI attributes of a provider answer: finish reason and usage. */
export function resultAttributes(finishReason: string, usage: InferenceResponse['token_usage']): Attributes {
  return { [GENAI.RESPONSE_FINISH_REASONS]: [finishReason], [GENAI.USAGE_INPUT_TOKENS]: usage.input_tokens, [GENAI.USAGE_OUTPUT_TOKENS]: usage.output_tokens };
}

/** A streamed provider attempt inside its own span, open until the stream's last part. */
export async function* tracedAttempt(model: RegisteredModel, exchange: Exchange, parts: AsyncIterable<StreamPart>): AsyncGenerator<StreamPart> {
  const span = startSpan('l04.provider.attempt', attemptAttributes(model, exchange));
  try {
    for await (const part of parts) {
      if (part.type === 'error') recordSpanError(span, part.error);
      if (part.type === 'finish') span.setAttributes(resultAttributes(part.finishReason, part.usage));
      yield part;
    }
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}
