/**
 * The partition of a request: the set of entries its semantic layer may match. It holds everything
 * that must be identical for a reworded question to get the same answer — scope, model, every
 * output-changing parameter, the system prompt and the conversation before the last message. Only
 * the last user message is compared by meaning (see `semanticText`); the embedder id separates
 * vector spaces inside a partition (see `SemanticCache`).
 */
import type { InferenceRequest } from '../../models/inference-request.js';
import { canonicalDigest } from './canonical-json.js';
import { outputParameters } from './output-parameters.js';

/** The partition key of `request` within `scope` (a `scopeKey`): 32 hex characters. */
export function partitionKey(request: InferenceRequest, scope: string): string {
  const prompt = request.logical_prompt;
  return canonicalDigest({
    kind: 'partition-v3',
    scope,
    parameters: outputParameters(request),
    system: prompt.system,
    context: prompt.messages.slice(0, -1),
  });
}
