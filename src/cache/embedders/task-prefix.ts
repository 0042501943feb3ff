/**
 * Task prefixes that embedding models document for their input. `nomic-embed-text` requires one
 * ("search_query: " for questions, "search_document: " for passages); the cache compares a
 * question with questions, so both sides are embedded as queries. OpenAI embeddings take none.
 */

/** The prefix a cache query is embedded with for `model` (an Ollama or OpenAI model name, any tag). */
export function queryPrefixFor(model: string): string {
  return /^nomic-embed-text(?:$|[-:@])/i.test(model.split('/').pop() ?? model) ? 'search_query: ' : '';
}
