/**
 * The verifier that stands between a close embedding and a semantic hit. Embeddings, lexical and
 * neural alike, score "dog bites man" and "man bites dog", "when was X born" and "where was X
 * born", or "refund order 1234" and "refund order 1235" as near-identical; the answers differ. A
 * semantic hit therefore also needs matching structure (`promptStructure`):
 *
 * - always: the same interrogatives, auxiliaries (tense) and modals, negators, quantifiers and
 *   quantities (numbers, dates, times, units), in the same places relative to the words they bear
 *   on, and the same function words (pronouns, prepositions, conjunctions) — together, who does
 *   what to whom, and the scope of every negation;
 * - with a lexical embedder (`Embedder.lexical`), the same content words in the same order too:
 *   the whole structure is equal;
 * - with a neural embedder, content words the two prompts share must keep their order and roles,
 *   every entity (name, acronym, identifier, code) must be in both, and other content words are
 *   left to the embedding ("lose weight" / "shed pounds").
 *
 * The key stored with an entry is the structure, serialised; the signature (interrogatives,
 * auxiliaries, negators, quantifiers and quantities) is part of the LSH bucket key, so a
 * candidate with another signature is never even fetched.
 */
import { promptStructure } from '../analysis/prompt-structure.js';
import type { StructureRole, StructureToken } from '../analysis/prompt-structure.js';

const ROLE_CODES: Readonly<Record<StructureRole, string>> = { content: 'c', quantity: 'q', wh: 'w', aux: 'a', neg: 'n', quant: 'u', function: 'f' };
const SIGNATURE_CODES = new Set(['q', 'w', 'a', 'n', 'u']);

/** The verifier key of `text` as stored with an entry: the mode and the structure, serialised. */
export function verifierKey(text: string, lexical: boolean): string {
  return JSON.stringify([lexical ? 'lexical' : 'neural', ...promptStructure(text).map(encode)]);
}

/** `verifierKey(text, lexical)` and its `signatureOf`, from one reading of the structure (no JSON read back). */
export function verifierKeyAndSignature(text: string, lexical: boolean): { key: string; signature: string } {
  const tokens = promptStructure(text);
  const encoded: string[] = [lexical ? 'lexical' : 'neural'];
  const signature: string[] = [];
  for (const token of tokens) {
    const code = ROLE_CODES[token.role];
    encoded.push(`${code}${token.entity ? '!' : '.'}${token.key}`);
    if (SIGNATURE_CODES.has(code)) signature.push(`${code}${token.key}`);
  }
  return { key: JSON.stringify(encoded), signature: signature.join(' ') };
}

function encode(token: StructureToken): string {
  return `${ROLE_CODES[token.role]}${token.entity ? '!' : '.'}${token.key}`;
}

function decode(key: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(key);
    return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The part of a verifier key that LSH buckets are keyed by: every closed-class and quantity token, in order. */
export function signatureOf(key: string): string {
  const tokens = decode(key) ?? [];
  return tokens
    .slice(1)
    .filter((token) => SIGNATURE_CODES.has(token[0]!))
    .map((token) => `${token[0]}${token.slice(2)}`)
    .join(' ');
}

/** Whether a candidate's verifier key allows a semantic hit for the query's. */
export function verifierKeysMatch(query: string, candidate: string): boolean {
  const a = decode(query);
  const b = decode(candidate);
  if (a === undefined || b === undefined || a[0] !== b[0]) return false;
  const left = a.slice(1);
  const right = b.slice(1);
  if (a[0] === 'lexical') return sameSequence(left.map(withoutEntity), right.map(withoutEntity));
  return neuralMatch(left, right);
}

/** Whether the verifier lets prompts `a` and `b` share an answer. */
export function verifierAllows(a: string, b: string, lexical: boolean): boolean {
  return verifierKeysMatch(verifierKey(a, lexical), verifierKey(b, lexical));
}

function withoutEntity(token: string): string {
  return `${token[0]}${token.slice(2)}`;
}

function sameSequence(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((token, index) => token === b[index]);
}

/** A content key without its past-tense mark: "owned" and "owns" are the same word in another tense. */
function lemma(token: string): string {
  return token.endsWith('~ed') ? token.slice(0, -3) : token;
}

function neuralMatch(left: string[], right: string[]): boolean {
  const contentKeys = (tokens: string[]) => new Set(tokens.filter((token) => token[0] === 'c').map((token) => lemma(withoutEntity(token))));
  const leftContent = contentKeys(left);
  const rightContent = contentKeys(right);
  const entities = new Set([...left, ...right].filter((token) => token[1] === '!').map(withoutEntity));
  for (const entity of entities) if (!leftContent.has(entity) || !rightContent.has(entity)) return false;
  // Closed-class words, quantities and shared content words (with their tense), in order: roles and scope kept.
  const project = (tokens: string[]) =>
    tokens.map(withoutEntity).filter((token) => token[0] !== 'c' || (leftContent.has(lemma(token)) && rightContent.has(lemma(token))));
  return sameSequence(project(left), project(right));
}
