/**
 * The structure of a prompt: its words in order, each with its role and a canonical key, so that
 * two prompts can be compared for who does what to whom, not as bags of words.
 *
 * - Numbers, dates, times and units in any spelling become one key ("ten minutes", "10 min" and
 *   "10min" → `#10 ~min`); "no. 5" and "#5" read "number 5", never a negation.
 * - Closed-class words keep their role: interrogatives, auxiliaries with tense, modals, negators,
 *   quantifiers, pronouns, prepositions and conjunctions (see `word-classes.ts`).
 * - Content words are keyed by stem (see `word-key.ts`); a capital mid-sentence or an acronym
 *   marks an entity, but case never changes a key.
 * - Articles and "please" are dropped; a leading "can you …" request frame is dropped; "how do I
 *   / how can I / how do you / how does one" reads "how to"; "what are some X" reads "what are X".
 * - Word order is kept, except for two rewordings that keep every role: a prepositional phrase
 *   and its compound ("a branch in git" = "a git branch", with for, in, on, about), "of" and the
 *   genitive ("the capital of France" = "France's capital"); and the two single words on either
 *   side of "and" / "or" ("TCP and UDP" = "UDP and TCP"). Swapping whole phrases, or anything
 *   around a verb, changes the key ("dog bites man" ≠ "man bites dog").
 */
import { lex } from './prompt-lexer.js';
import { canonicalNumber } from './number-words.js';
import { countKey, counts, quantities } from './prompt-quantities.js';
import type { Piece } from './prompt-quantities.js';
import { closedClassOf, COMPOUND_PREPOSITIONS, GENERIC_SUBJECTS, IGNORED_WORDS } from './word-classes.js';
import type { WordRole } from './word-classes.js';
import { wordKey } from './word-key.js';

/** The role of a token: a content word, a closed-class word, or a quantity (number, date, time, unit). */
export type StructureRole = 'content' | 'quantity' | WordRole;

/** One token of a prompt's structure. */
export interface StructureToken {
  role: StructureRole;
  /** Canonical key: a stem (`tri`, `univers+ity`, `own~ed` for a past form), `#10`, `~km`, `@15:30`, `date:2024-03-05`, `` `code ``. */
  key: string;
  /** A name, acronym, identifier, code, e-mail address or URL. */
  entity: boolean;
}

// The embedder and the verifier analyse the same text one after the other: remember the last few.
const RECENT_LIMIT = 16;
const recent = new Map<string, readonly StructureToken[]>();

/** The structure of `text` (the returned array is shared: do not modify it). */
export function promptStructure(text: string): readonly StructureToken[] {
  const known = recent.get(text);
  if (known !== undefined) return known;
  const structure = canonicalOrder(readFrames(classify(quantities(counts(lex(text))))));
  if (recent.size >= RECENT_LIMIT) recent.delete(recent.keys().next().value!);
  recent.set(text, structure);
  return structure;
}

/** A token before the reading rules: a spelled "one" is remembered for "how does one …". */
type Draft = StructureToken & { spelled?: string | undefined };

const KEPT_SYMBOLS: Readonly<Record<string, string>> = { '+': 'plus', '&': 'and', '=': '=', '/': '/', '-': '-', '<': '<', '>': '>', '*': '*' };

/** Roles and keys; articles, "please" and punctuation go. */
function classify(pieces: Piece[]): Draft[] {
  const tokens: Draft[] = [];
  pieces.forEach((piece, index) => {
    switch (piece.type) {
      case 'word': {
        if (IGNORED_WORDS.has(piece.text) && !piece.acronym) return;
        // An acronym that spells a function word ("the US", "IT support", "WHO") is a name.
        const closed = piece.acronym ? undefined : closedClassOf(piece.text);
        if (closed !== undefined) {
          tokens.push({ role: closed.role, key: closed.key, entity: false });
          return;
        }
        const { key, past } = wordKey(piece.text);
        tokens.push({ role: 'content', key: past && !piece.hyphenated ? `${key}~ed` : key, entity: piece.acronym || (piece.capitalised && !piece.initial) });
        return;
      }
      case 'count':
        tokens.push({ role: 'quantity', key: countKey(piece), entity: false, spelled: piece.spelled });
        return;
      case 'quantity':
        tokens.push({ role: 'quantity', key: piece.key, entity: false });
        return;
      case 'date':
        tokens.push({ role: 'quantity', key: `date:${piece.text}`, entity: false });
        return;
      case 'time':
        tokens.push({ role: 'quantity', key: `@${piece.text}`, entity: false });
        return;
      case 'verbatim':
        tokens.push({ role: 'content', key: `\`${piece.text}`, entity: true });
        return;
      case 'genitive':
        tokens.push({ role: 'function', key: "'s", entity: false });
        return;
      case 'number':
        // Every number lexeme became a count; kept for exhaustiveness.
        tokens.push({ role: 'quantity', key: `#${canonicalNumber(piece.text)}`, entity: false });
        return;
      case 'symbol': {
        const kept = KEPT_SYMBOLS[piece.text];
        // A hyphen inside a compound word ("noise-cancelling") is spelling; between numbers ("7-1") it is kept.
        if (kept === undefined || (piece.text === '-' && !(pieces[index - 1]?.type === 'count' || pieces[index - 1]?.type === 'quantity'))) return;
        tokens.push({ role: kept === 'plus' ? 'content' : 'function', key: kept, entity: false });
        return;
      }
      default: {
        const unreachable: never = piece;
        throw new Error(`unknown piece ${JSON.stringify(unreachable)}`);
      }
    }
  });
  return tokens;
}

/** Auxiliaries of a "how … I" question that asks for a method (not "could", "would": counterfactual). */
const METHOD_AUXILIARIES: ReadonlySet<string> = new Set(['do.present', 'can', 'should']);
const BOUND_POSSESSIVES: Readonly<Record<string, string>> = { i: 'my', you: 'your', we: 'our', one: "'s" };

/** Request frames and question forms that say the same thing. */
function readFrames(drafts: Draft[]): StructureToken[] {
  let tokens = drafts;
  // "Can you explain X" / "Could you please explain X" asks for "explain X".
  const first = tokens[0];
  if (first?.role === 'aux' && ['can', 'could', 'would', 'will'].includes(first.key) && tokens[1]?.key === 'you' && tokens[2]?.role === 'content') {
    tokens = tokens.slice(2);
  }
  tokens = negationAfterAuxiliary(explanationRequest(tokens));
  const out: StructureToken[] = [];
  let boundPossessive: string | undefined;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]!;
    const previous = out[out.length - 1];
    // "How do I / how can I / how should I / how do you / how does one X" asks for a method:
    // "how to X", and the subject's own possessive ("my", "your") is then the generic one.
    if (token.role === 'wh' && token.key === 'how') {
      const auxiliary = tokens[index + 1];
      const subject = tokens[index + 2];
      const generic =
        subject === undefined
          ? undefined
          : subject.spelled === 'one'
            ? 'one'
            : subject.role === 'function' && GENERIC_SUBJECTS.has(subject.key)
              ? subject.key
              : undefined;
      if (auxiliary?.role === 'aux' && METHOD_AUXILIARIES.has(auxiliary.key) && generic !== undefined) {
        out.push(strip(token), { role: 'function', key: 'to', entity: false });
        boundPossessive = BOUND_POSSESSIVES[generic];
        index += 2;
        continue;
      }
    }
    if (boundPossessive !== undefined && token.role === 'function' && token.key === boundPossessive) continue;
    // Do-support after an interrogative carries nothing the bare verb lacks: "why do cats purr" =
    // "why cats purr". "did" carries the past and stays.
    if (token.role === 'aux' && token.key === 'do.present' && previous?.role === 'wh') continue;
    // "What are some (of the) good X" asks for good X: an indefinite or partitive "some" in a
    // what-question adds nothing.
    if (token.role === 'quant' && token.key === 'some' && previous?.key === 'be.present' && out[out.length - 2]?.key === 'what') {
      if (tokens[index + 1]?.key === 'of') index += 1;
      continue;
    }
    out.push(strip(token));
  }
  return embeddedQuestionOrder(out);
}

/**
 * "Explain / describe how X works" asks "how does X work"; "explain / describe X" asks "what is
 * X". Only these two verbs of explanation at the start of a prompt; "tell me a joke" is not
 * "what is a joke".
 */
function explanationRequest(tokens: Draft[]): Draft[] {
  const verb = tokens[0];
  if (verb?.role !== 'content' || (verb.key !== 'explain' && verb.key !== 'describ')) return tokens;
  const rest = tokens[1]?.key === 'me' || tokens[1]?.key === 'us' ? tokens.slice(2) : tokens.slice(1);
  if (rest[0]?.role === 'wh') return rest;
  if (rest[0]?.role !== 'content') return tokens;
  return [{ role: 'wh', key: 'what', entity: false }, { role: 'aux', key: 'be.present', entity: false }, ...rest];
}

/**
 * In a question the negation may follow the auxiliary ("why doesn't my laptop charge", "isn't it
 * late") or the subject ("why does my laptop not charge", "is it not late"): the second form
 * reads as the first. The subject must be a pronoun or one noun (with its possessive), directly
 * followed by "not", so that "is the test always not failing" keeps its scope.
 */
function negationAfterAuxiliary(tokens: Draft[]): Draft[] {
  const at = tokens[0]?.role === 'wh' ? 1 : 0;
  if (tokens[at]?.role !== 'aux') return tokens;
  const subject = tokens[at + 1];
  let end = at + 2;
  if (subject?.role === 'function' && POSSESSIVES.has(subject.key) && tokens[end]?.role === 'content') end += 1;
  else if (!(subject?.role === 'content' || (subject?.role === 'function' && SUBJECT_PRONOUNS.has(subject.key)))) return tokens;
  const negation = tokens[end];
  if (negation?.role !== 'neg' || negation.key !== 'not') return tokens;
  return [...tokens.slice(0, at + 1), negation, ...tokens.slice(at + 1, end), ...tokens.slice(end + 1)];
}

const POSSESSIVES: ReadonlySet<string> = new Set(['my', 'your', 'his', 'her', 'its', 'our', 'their']);
const SUBJECT_PRONOUNS: ReadonlySet<string> = new Set(['i', 'you', 'he', 'she', 'it', 'we', 'they', 'this', 'that', 'there']);

/** An embedded question ending in its verb "be" ("… what a REST API is") reads as the direct one ("what is a REST API"). */
function embeddedQuestionOrder(tokens: StructureToken[]): StructureToken[] {
  const last = tokens[tokens.length - 1];
  if (last?.role !== 'aux' || !last.key.startsWith('be.')) return tokens;
  let start = tokens.length - 2;
  while (start >= 0 && tokens[start]!.role === 'content') start -= 1;
  const wh = tokens[start];
  if (wh?.role !== 'wh' || start === tokens.length - 2) return tokens;
  return [...tokens.slice(0, start + 1), last, ...tokens.slice(start + 1, -1)];
}

function strip(token: Draft): StructureToken {
  return { role: token.role, key: token.key, entity: token.entity };
}

/** The two rewordings that keep every role: compound ↔ prepositional phrase, and swapped single conjuncts. */
function canonicalOrder(input: StructureToken[]): StructureToken[] {
  const tokens = [...input];
  floatAdverb(tokens);
  // Single conjuncts first, so that a phrase attached to the second ("Python and Java for the
  // backend") moves the same way whichever conjunct comes first.
  for (let index = 1; index < tokens.length - 1; index++) {
    const token = tokens[index]!;
    const left = tokens[index - 1]!;
    const right = tokens[index + 1]!;
    if (token.role !== 'function' || (token.key !== 'and' && token.key !== 'or') || left.role !== 'content' || right.role !== 'content') continue;
    const singleLeft = tokens[index - 2]?.role !== 'content';
    const singleRight = tokens[index + 2]?.role !== 'content';
    if ((singleLeft || singleRight) && left.key > right.key) {
      tokens[index - 1] = right;
      tokens[index + 1] = left;
    }
  }
  for (let index = tokens.length - 2; index >= 1; index--) {
    const token = tokens[index]!;
    const head = tokens[index - 1]!;
    if (token.role !== 'function' || head.role !== 'content' || !(token.key === 'of' || COMPOUND_PREPOSITIONS.has(token.key))) continue;
    let end = index + 1;
    while (end < tokens.length && tokens[end]!.role === 'content') end += 1;
    if (end === index + 1) continue;
    const phrase = tokens.slice(index + 1, end);
    if (token.key !== 'of') {
      // "a branch in git" → "git branch": the phrase joins its head noun.
      tokens.splice(index - 1, end - index + 1, ...phrase, head);
      continue;
    }
    // "the main causes of X" → "X 's main causes". The whole noun phrase moves when a closed-class
    // word (not the infinitive "to") opens it; otherwise its first word may be a verb, and only
    // the head noun moves.
    let start = index - 1;
    while (start > 0 && tokens[start - 1]!.role === 'content') start -= 1;
    const opener = tokens[start - 1];
    if (opener === undefined || opener.key === 'to') start = index - 1;
    tokens.splice(start, end - start, ...phrase, { role: 'function', key: "'s", entity: false }, ...tokens.slice(start, index));
  }
  return tokens;
}

/**
 * A manner adverb in -ly may stand before or after its verb ("permanently delete my account" =
 * "delete my account permanently"): a prompt's only -ly adverb goes last. Two such adverbs keep
 * their places (swapping them changes who gets which manner), and so does one near a negation,
 * whose scope it could cross.
 */
function floatAdverb(tokens: StructureToken[]): void {
  const adverbs = tokens.flatMap((token, index) => (token.role === 'content' && /\+\w*ly$/.test(token.key) ? [index] : []));
  if (adverbs.length !== 1 || tokens.some((token) => token.role === 'neg')) return;
  const [adverb] = tokens.splice(adverbs[0]!, 1);
  tokens.push(adverb!);
}
