/** Which configured Ollama models are pulled, by the names `/api/tags` lists. */

/** Result of matching expected names against pulled ones. */
export interface OllamaModelMatch {
  /** Each expected name (as configured) → pulled or not. */
  models: Record<string, boolean>;
  /** Expected names not pulled, in the order given. */
  missing: string[];
}

/**
 * Matches configured names against `/api/tags` names. A name without a tag means `:latest`
 * (`llama3.2` is `llama3.2:latest`), as in Ollama's own model-name rules; a
 * `registry.ollama.ai/library/` prefix is the default namespace and is ignored.
 */
export function matchOllamaModels(expected: readonly string[], pulled: readonly string[]): OllamaModelMatch {
  const available = new Set(pulled.map(normalizeOllamaModelName));
  const models: Record<string, boolean> = {};
  const missing: string[] = [];
  for (const name of expected) {
    const present = available.has(normalizeOllamaModelName(name));
    models[name] = present;
    if (!present && !missing.includes(name)) missing.push(name);
  }
  return { models, missing };
}

/** `Llama3.2` → `llama3.2:latest`; `registry.ollama.ai/library/qwen3:8b` → `qwen3:8b`. */
export function normalizeOllamaModelName(name: string): string {
  let normalized = name
    .trim()
    .toLowerCase()
    .replace(/^registry\.ollama\.ai\//, '')
    .replace(/^library\//, '');
  const lastSegment = normalized.slice(normalized.lastIndexOf('/') + 1);
  if (!lastSegment.includes(':')) normalized += ':latest';
  return normalized;
}
