/**
 * The guard against wrong semantic hits. Lexical and neural embeddings alike score "refund order
 * 1234" and "refund order 1235", or "is X safe" and "is X not safe", as near-identical; the answers
 * differ. A semantic hit therefore also needs the same guard signature: the same numbers, the same
 * count of negations and the same named entities. The signature is part of the LSH bucket key, so
 * candidates that fail it are never even fetched. For lexical embedders the guard key also lists
 * the content words, which must match too (`contentStemsMatch`).
 */
import { contentStems, contentStemsMatch, isDirectional } from './content-words.js';

/** The features a semantic hit must share exactly. */
export interface GuardFeatures {
  /** Numbers, normalised (`1,000` → `1000`, `five` → `5`): digits in order of appearance, then number words. */
  numbers: string[];
  /** How many negations (`not`, `no`, `never`, `without`, `…n't`). */
  negations: number;
  /**
   * Named entities: capitalised words, acronyms, identifiers, e-mail addresses and URLs;
   * lower-cased, unique; sorted, or in order of appearance when the text is directional
   * ("from Boston to Denver").
   */
  entities: string[];
}

const NUMBER_WORDS: Record<string, string> = {
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
  eleven: '11',
  twelve: '12',
  thirteen: '13',
  fourteen: '14',
  fifteen: '15',
  sixteen: '16',
  seventeen: '17',
  eighteen: '18',
  nineteen: '19',
  twenty: '20',
  thirty: '30',
  forty: '40',
  fifty: '50',
  sixty: '60',
  seventy: '70',
  eighty: '80',
  ninety: '90',
  hundred: '100',
  thousand: '1000',
  million: '1000000',
  billion: '1000000000',
  first: '1st',
  second: '2nd',
  third: '3rd',
  half: '0.5',
  dozen: '12',
  once: '1x',
  twice: '2x',
  single: '1',
  double: '2x',
  triple: '3x',
};

const NEGATIONS = new Set([
  'not',
  'no',
  'never',
  'none',
  'nobody',
  'nothing',
  'nowhere',
  'neither',
  'nor',
  'without',
  'cannot',
  'unable',
  'neglect',
  'avoid',
  'except',
  'excluding',
]);

// Capitalised words that start sentences (or are always capitalised) without naming anything.
const COMMON_CAPITALISED = new Set(
  (
    'what how why when where who whom whose which is are was were am be can could would should will shall may might must do does did ' +
    'has have had please tell show give explain describe list write summarize summarise translate create make help find generate ' +
    'compare define name let i my me we our you your the a an this that these those there it its in on at for to of and but or if ' +
    'so hi hello hey thanks thank any some all each every quick question briefly also now then yes okay ok calculate convert suggest ' +
    "recommend provide draft rewrite check fix get need want tell outline is isn't are aren't does doesn't do don't can can't " +
    "should shouldn't would wouldn't could couldn't will won't did didn't was wasn't give how's what's where's who's " +
    "i'm i've i'd i'll it's that's there's could've hey in on from with by about after before during since while not no never " +
    'kindly quickly simply roughly approximately exactly just only one any other another same such much many more most less few ' +
    'as like into onto over under between among through via per vs versus dear sir madam team assistant answer reply respond say'
  ).split(' '),
);

const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}_'’.@:/-]*/gu;

/** Extracts the guard features of `text`. */
export function guardFeatures(text: string): GuardFeatures {
  const numbers: string[] = [];
  let negations = 0;
  const entities = new Set<string>();
  const normalized = text.normalize('NFKC');
  for (const match of normalized.matchAll(/\d+(?:[.,]\d+)*/g)) numbers.push(normalizeNumber(match[0]));
  for (const raw of normalized.match(TOKEN) ?? []) {
    const token = raw.replace(/’/g, "'").replace(/[.:/-]+$/u, '');
    if (token.length === 0) continue;
    const lower = token.toLowerCase();
    const numberWord = NUMBER_WORDS[lower];
    if (numberWord !== undefined) numbers.push(numberWord);
    if (NEGATIONS.has(lower) || lower.endsWith("n't")) negations += 1;
    if (isEntity(token, lower)) entities.add(lower.endsWith("'s") ? lower.slice(0, -2) : lower);
  }
  const ordered = [...entities];
  return { numbers, negations, entities: isDirectional(text) ? ordered : ordered.sort() };
}

/** The guard signature of `text`: equal signatures are required for a semantic hit. */
export function guardSignature(text: string): string {
  const features = guardFeatures(text);
  return JSON.stringify([features.numbers, features.negations, features.entities]);
}

function isEntity(token: string, lower: string): boolean {
  if (/[@]|:\/\//u.test(token)) return true; // e-mail address or URL
  if (/[_]|[a-z][A-Z]/u.test(token)) return true; // snake_case or camelCase identifier
  if (!/^\p{Lu}/u.test(token)) return false;
  if (COMMON_CAPITALISED.has(lower)) return false;
  // Sentence-initial words count too unless they are common words: "Berlin has how many
  // inhabitants" names a city. A word capitalised only by grammar costs a (safe) miss at worst.
  return true;
}

function normalizeNumber(text: string): string {
  // `1,000` and `1,000,000` are thousands separators; `3,5` (decimal comma) and `3.5` stay distinct from `35`.
  const thousands = /^\d{1,3}(,\d{3})+(\.\d+)?$/u.test(text);
  const plain = thousands ? text.replace(/,/g, '') : text.replace(',', '.');
  const value = Number(plain);
  return Number.isFinite(value) && plain.length <= 15 ? String(value) : plain;
}

/**
 * The guard as stored with an entry: the signature, plus for lexical embedders a line with `>`
 * (directional) or `=` and the content stems in order.
 */
export function guardKey(text: string, lexical: boolean): string {
  const signature = guardSignature(text);
  return lexical ? `${signature}\n${isDirectional(text) ? '>' : '='}${contentStems(text).join(' ')}` : signature;
}

/** The signature part of a guard key (what LSH buckets are keyed by). */
export function signatureOf(key: string): string {
  const newline = key.indexOf('\n');
  return newline === -1 ? key : key.slice(0, newline);
}

/** Whether a candidate's guard key allows a semantic hit for the query's. */
export function guardKeysMatch(query: string, candidate: string): boolean {
  if (signatureOf(query) !== signatureOf(candidate)) return false;
  const queryWords = query.indexOf('\n') === -1 ? undefined : query.slice(query.indexOf('\n') + 1);
  const candidateWords = candidate.indexOf('\n') === -1 ? undefined : candidate.slice(candidate.indexOf('\n') + 1);
  if (queryWords === undefined && candidateWords === undefined) return true;
  if (queryWords === undefined || candidateWords === undefined) return false;
  const ordered = queryWords.startsWith('>') || candidateWords.startsWith('>');
  return contentStemsMatch(split(queryWords.slice(1)), split(candidateWords.slice(1)), ordered);
}

/** Whether the guard lets prompts `a` and `b` share an answer. */
export function guardAllows(a: string, b: string, lexical: boolean): boolean {
  return guardKeysMatch(guardKey(a, lexical), guardKey(b, lexical));
}

function split(text: string): string[] {
  return text.length === 0 ? [] : text.split(' ');
}
