/**
 * The model catalogue: which models exist, on which provider, with which capabilities. Loaded from
 * config; models may be added, removed, and marked unavailable by an operator at run time. Whether
 * the provider actually has a model (an Ollama model not pulled) comes from a `missingReason`
 * lookup (the health monitor), read when a model is asked for: the registry hands out snapshots,
 * and nothing outside it changes its entries.
 */
import { ConfigurationError, RoutingError } from '../models/error-codes.js';
import type { Capability } from '../models/inference-request.js';
import { ModelConfigSchema } from '../models/model-config.js';
import type { ModelConfig, ModelConfigInput, RegisteredModel } from '../models/model-config.js';
import { listIssues } from '../models/validation.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { merged } from '../util/merged.js';

export type { RegisteredModel };

/** Why the provider cannot serve `model` right now, or `undefined` when it can. */
export type MissingModelLookup = (model: ModelConfig) => string | undefined;

/** Register, unregister, get and list models. */
export class ModelRegistry {
  private readonly models = new Map<string, Readonly<ModelConfig>>();
  /** Models an operator marked unavailable, with the reason. */
  private readonly disabled = new Map<string, string>();
  /** Alias → model id. */
  private readonly aliases = new Map<string, string>();
  private readonly providers: Set<string>;
  private readonly missingReason: MissingModelLookup;

  /** `providers` are the configured provider ids; a model naming another is rejected (E4002). */
  constructor(providers: Iterable<string>, options: { missingReason?: MissingModelLookup } = {}) {
    this.providers = new Set(providers);
    this.missingReason = options.missingReason ?? (() => undefined);
  }

  /** A registry holding every model of a validated config. */
  static fromConfig(config: GatewayConfig, options: { missingReason?: MissingModelLookup } = {}): ModelRegistry {
    const registry = new ModelRegistry(Object.keys(config.providers), options);
    for (const [id, model] of Object.entries(config.models)) registry.register({ ...model, id, provider_model: model.provider_model ?? id });
    return registry;
  }

  /** Adds a model. Throws E4001 for a duplicate id, E4002 for an unknown provider, E4000 for bad fields. */
  register(input: ModelConfigInput): RegisteredModel {
    const parsed = ModelConfigSchema.safeParse(input);
    if (!parsed.success) {
      const issues = listIssues(parsed.error, 'model.');
      throw new ConfigurationError('E4000', `Invalid model: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`, { details: { issues } });
    }
    const model = parsed.data;
    if (this.models.has(model.id)) throw new ConfigurationError('E4001', `Model "${model.id}" is already registered`, { details: { model_id: model.id } });
    if (!this.providers.has(model.provider)) {
      throw new ConfigurationError('E4002', `Model "${model.id}" names unknown provider "${model.provider}"`, {
        details: { model_id: model.id, provider: model.provider },
      });
    }
    const taken = [model.id, ...(model.aliases ?? [])].find((name) => this.aliases.has(name) || (name !== model.id && this.models.has(name)));
    if (taken !== undefined) {
      throw new ConfigurationError('E4001', `"${taken}" already names a registered model or alias`, { details: { model_id: model.id, name: taken } });
    }
    Object.freeze(model.capabilities);
    if (model.aliases !== undefined) Object.freeze(model.aliases);
    this.models.set(model.id, Object.freeze(model));
    for (const alias of model.aliases ?? []) this.aliases.set(alias, model.id);
    return this.snapshot(model);
  }

  /** Removes a model and its aliases; returns whether it existed. */
  unregister(modelId: string): boolean {
    for (const alias of this.models.get(modelId)?.aliases ?? []) this.aliases.delete(alias);
    this.disabled.delete(modelId);
    return this.models.delete(modelId);
  }

  /** The model with this id or alias, or `undefined`. */
  find(modelId: string): RegisteredModel | undefined {
    const model = this.models.get(modelId) ?? this.models.get(this.aliases.get(modelId) ?? '');
    return model === undefined ? undefined : this.snapshot(model);
  }

  /** The model with this id or alias; throws E4102 when unknown. */
  get(modelId: string): RegisteredModel {
    const model = this.find(modelId);
    if (model === undefined) throw new RoutingError('E4102', `Unknown model "${modelId}"`, { param: 'model', details: { model_id: modelId } });
    return model;
  }

  /** Every model, in registration order. */
  list(): RegisteredModel[] {
    return [...this.models.values()].map((model) => this.snapshot(model));
  }

  /** Models that have every one of `capabilities`. */
  listByCapability(...capabilities: Capability[]): RegisteredModel[] {
    return this.list().filter((model) => capabilities.every((capability) => model.capabilities.includes(capability)));
  }

  /** Models served by `provider`. */
  listByProvider(provider: string): RegisteredModel[] {
    return this.list().filter((model) => model.provider === provider);
  }

  /** Models whose context window is at least `tokens`. */
  listByMinContext(tokens: number): RegisteredModel[] {
    return this.list().filter((model) => model.context_length >= tokens);
  }

  /** Marks a model usable or not by operator decision (which wins over the provider's view); unknown ids are ignored. */
  setAvailability(modelId: string, available: boolean, reason?: string): void {
    if (!this.models.has(modelId)) return;
    if (available) this.disabled.delete(modelId);
    else this.disabled.set(modelId, reason ?? 'unavailable');
  }

  /** The model as it stands now: its config, and whether it can be used and why not. */
  private snapshot(model: Readonly<ModelConfig>): RegisteredModel {
    const reason = this.disabled.get(model.id) ?? this.missingReason(model);
    return reason === undefined ? merged(model, { available: true }) : merged(model, { available: false, unavailable_reason: reason });
  }
}
