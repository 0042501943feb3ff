/**
 * The model catalogue: which models exist, on which provider, with which capabilities. Loaded from
 * config; models may be added, removed, and marked unavailable (an Ollama model not pulled) at run time.
 */
import { ConfigurationError, RoutingError } from '../models/error-codes.js';
import type { Capability } from '../models/inference-request.js';
import { ModelConfigSchema } from '../models/model-config.js';
import type { ModelConfig, ModelConfigInput } from '../models/model-config.js';
import { listIssues } from '../models/validation.js';
import type { GatewayConfig } from '../config/config-schema.js';

/** A registered model and whether it can be used right now. */
export interface RegisteredModel extends ModelConfig {
  available: boolean;
  /** Why the model is unavailable (`not pulled: run ollama pull llama3.2`). */
  unavailable_reason?: string;
}

/** Register, unregister, get and list models. */
export class ModelRegistry {
  private readonly models = new Map<string, RegisteredModel>();
  /** Alias → model id. */
  private readonly aliases = new Map<string, string>();
  private readonly providers: Set<string>;

  /** `providers` are the configured provider ids; a model naming another is rejected (E4002). */
  constructor(providers: Iterable<string>) {
    this.providers = new Set(providers);
  }

  /** A registry holding every model of a validated config. */
  static fromConfig(config: GatewayConfig): ModelRegistry {
    const registry = new ModelRegistry(Object.keys(config.providers));
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
    const registered: RegisteredModel = { ...model, available: true };
    this.models.set(model.id, registered);
    for (const alias of model.aliases ?? []) this.aliases.set(alias, model.id);
    return registered;
  }

  /** Removes a model and its aliases; returns whether it existed. */
  unregister(modelId: string): boolean {
    for (const alias of this.models.get(modelId)?.aliases ?? []) this.aliases.delete(alias);
    return this.models.delete(modelId);
  }

  /** The model with this id or alias, or `undefined`. */
  find(modelId: string): RegisteredModel | undefined {
    const model = this.models.get(modelId);
    if (model !== undefined) return model;
    const target = this.aliases.get(modelId);
    return target === undefined ? undefined : this.models.get(target);
  }

  /** The model with this id or alias; throws E4102 when unknown. */
  get(modelId: string): RegisteredModel {
    const model = this.find(modelId);
    if (model === undefined) throw new RoutingError('E4102', `Unknown model "${modelId}"`, { param: 'model', details: { model_id: modelId } });
    return model;
  }

  /** Every model, in registration order. */
  list(): RegisteredModel[] {
    return [...this.models.values()];
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

  /** Marks a model usable or not (health checks call this); unknown ids are ignored. */
  setAvailability(modelId: string, available: boolean, reason?: string): void {
    const model = this.models.get(modelId);
    if (model === undefined) return;
    model.available = available;
    if (available) delete model.unavailable_reason;
    else model.unavailable_reason = reason ?? 'unavailable';
  }
}
