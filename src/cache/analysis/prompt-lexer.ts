/**
 * The first pass of prompt analysis: Unicode and typography folded, code set apart, prose cut
 * into words, numbers, dates, times, addresses and symbols, contractions expanded, and each word
 * marked with what its case says (a capital mid-sentence, an acronym) before case is folded.
 */
import { createHash } from 'node:crypto';
import { isIdentifier, splitCode } from './code-spans.js';
import { IS_CONTRACTION_HOSTS } from './word-classes.js';

/** One lexical item of a prompt. */
export type Lexeme =
  | { type: 'word'; text: string; capitalised: boolean; acronym: boolean; initial: boolean; hyphenated: boolean; attached: boolean }
  | { type: 'number'; text: string; attached: boolean }
  | { type: 'date' | 'time'; text: string }
  | { type: 'verbatim'; text: string }
  | { type: 'symbol'; text: string; attached: boolean }
  | { type: 'genitive' };

/** Curly quotes, primes, dashes and invisible characters that NFKC leaves as they are. */
export function foldTypography(text: string): string {
  return text
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u201a\u201b\u2032\u00b4]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, '-')
    .replace(/[\u200b-\u200d\u2060\ufeff]/g, '');
}

// Dates, times, URLs, e-mail addresses, numbers, words (with apostrophes and inner dots:
// "don't", "node.js", "e.g"), and any other character. URLs and addresses are tried only when the
// text can hold one: trying them at every word costs more than the rest of the analysis.
const DATE = String.raw`(\d{4}-\d{2}-\d{2})(?!\d)`;
const TIME = String.raw`(\d{1,2}:\d{2}(?::\d{2})?)(?!\d)`;
const URL = String.raw`([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>]+)`;
const EMAIL = String.raw`([\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+)`;
const NUMBER = String.raw`(\d+(?:[.,]\d+)*|(?<![\p{L}\p{N}])\.\d+)`;
const WORD = String.raw`([\p{L}_][\p{L}\p{N}_]*(?:'\p{L}+)*(?:\.\p{L}[\p{L}\p{N}_]*)*)`;
const OTHER = String.raw`(\S)`;
const NEVER = '($^)';
const LEXEME_PLAIN = new RegExp([DATE, TIME, NEVER, NEVER, NUMBER, WORD, OTHER].join('|'), 'gu');
const LEXEME_FULL = new RegExp([DATE, TIME, URL, EMAIL, NUMBER, WORD, OTHER].join('|'), 'gu');

const SENTENCE_END = new Set(['.', '?', '!', ':', ';']);

/** The lexemes of `text`, in order. */
export function lex(text: string): Lexeme[] {
  const lexemes: Lexeme[] = [];
  for (const segment of splitCode(foldTypography(text))) {
    if (segment.code) lexemes.push({ type: 'verbatim', text: verbatimKey(segment.text) });
    else lexProse(segment.text, lexemes);
  }
  return lexemes;
}

/** Code compares verbatim; long blocks by digest, so that stored keys stay small. */
function verbatimKey(code: string): string {
  return code.length <= 64 ? code : `#${createHash('sha256').update(code).digest('hex').slice(0, 24)}`;
}

function lexProse(text: string, out: Lexeme[]): void {
  const allUpper = !/\p{Ll}/u.test(text);
  let initial = true;
  let end = 0;
  let hyphenPending = false;
  for (const match of text.matchAll(text.includes('@') || text.includes('://') ? LEXEME_FULL : LEXEME_PLAIN)) {
    const attached = match.index === end && match.index > 0;
    const gap = text.slice(end, match.index);
    if (gap.includes('\n')) initial = true;
    end = match.index + match[0].length;
    const [raw, isoDate, time, url, email, number, word] = match;
    if (isoDate !== undefined) out.push({ type: 'date', text: isoDate });
    else if (time !== undefined) out.push({ type: 'time', text: time });
    else if (url !== undefined) out.push({ type: 'verbatim', text: url.replace(/[.,;:!?)]+$/, '') });
    else if (email !== undefined) out.push({ type: 'verbatim', text: email.toLowerCase() });
    else if (number !== undefined) out.push({ type: 'number', text: number, attached });
    else if (word !== undefined) {
      const hyphenated = hyphenPending && attached;
      if (hyphenated) markPreviousHyphenated(out);
      pushWord(word, { initial, allUpper, hyphenated, attached }, out);
      initial = false;
      hyphenPending = false;
      continue;
    } else {
      const symbol = raw.toLowerCase();
      out.push({ type: 'symbol', text: symbol, attached });
      if (SENTENCE_END.has(symbol)) initial = true;
      hyphenPending = symbol === '-' && attached;
      continue;
    }
    initial = false;
    hyphenPending = false;
  }
}

function markPreviousHyphenated(out: Lexeme[]): void {
  // The lexeme before the hyphen symbol: "medium-sized" joins two words into one adjective.
  const previous = out[out.length - 2];
  if (previous?.type === 'word') previous.hyphenated = true;
}

interface WordContext {
  initial: boolean;
  allUpper: boolean;
  hyphenated: boolean;
  /** No whitespace before it ("5km", "10th"). */
  attached: boolean;
}

function pushWord(original: string, context: WordContext, out: Lexeme[]): void {
  if (isIdentifier(original)) {
    out.push({ type: 'verbatim', text: original });
    return;
  }
  const capitalised = !context.allUpper && /^\p{Lu}/u.test(original);
  const acronym = !context.allUpper && /^\p{Lu}[\p{Lu}\p{N}]+$/u.test(original);
  const word = (text: string, first: boolean): Lexeme => ({
    type: 'word',
    text,
    capitalised: first && capitalised,
    acronym: first && acronym,
    initial: first && context.initial,
    hyphenated: context.hyphenated,
    attached: first && context.attached,
  });
  for (const [index, part] of expandContraction(original.toLowerCase()).entries()) {
    out.push(part === "'s" ? { type: 'genitive' } : word(part, index === 0));
  }
}

const NEGATED_AUXILIARIES: Readonly<Record<string, string>> = { ca: 'can', wo: 'will', sha: 'shall', ai: 'is' };
const CLITICS: Readonly<Record<string, string>> = { re: 'are', m: 'am', ve: 'have', ll: 'will', d: 'would' };

/** "don't" → do not, "can't" → can not, "it's" → it is, "let's" → let us, "France's" → France + 's. */
function expandContraction(word: string): string[] {
  if (word === 'cannot') return ['can', 'not'];
  if (!word.includes("'")) return [word];
  if (word.endsWith("n't")) {
    const base = word.slice(0, -3);
    return [NEGATED_AUXILIARIES[base] ?? base, 'not'];
  }
  const apostrophe = word.lastIndexOf("'");
  const host = word.slice(0, apostrophe);
  const clitic = word.slice(apostrophe + 1);
  if (clitic === 's') {
    if (host === 'let') return ['let', 'us'];
    return IS_CONTRACTION_HOSTS.has(host) ? [host, 'is'] : [host, "'s"];
  }
  const expanded = CLITICS[clitic];
  return expanded === undefined ? [word] : [host, expanded];
}
