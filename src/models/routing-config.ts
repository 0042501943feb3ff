/** RoutingStrategy and RoutingDecision: how the router chose, and what it turned down. */
import { z } from 'zod';

/** `cost`: cheapest estimated call first; `latency`: fastest observed first; `quality`: highest quality first. */
export const RoutingStrategySchema = z.enum(['cost', 'latency', 'quality']);
export type RoutingStrategy = z.infer<typeof RoutingStrategySchema>;

/** A model the router did not choose, and why. */
export interface ExcludedCandidate {
  model_id: string;
  /** `capability`, `context`, `cost`, `latency`, `health`, `circuit`, `provider` ... */
  reason: string;
  detail: string;
}

/** The router's answer: the chosen model, its fallbacks in order, and every excluded model. */
export interface RoutingDecision {
  model_id: string;
  provider: string;
  strategy: RoutingStrategy;
  fallbacks: string[];
  excluded: ExcludedCandidate[];
  /** Estimated cost of the chosen model, in cents. */
  estimated_cost_cents: number;
  /** Estimated prompt tokens used for the context and cost filters. */
  estimated_input_tokens: number;
}
