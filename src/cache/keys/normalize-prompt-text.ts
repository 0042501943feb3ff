/**
 * The text of a prompt as the exact layer keys it, so that trivial variants share one entry:
 * Unicode compatibility forms (NFKC) and typographic quotes and dashes folded; whitespace
 * collapsed; no space before `, . ; : ! ? ) ] }` or after `( [ {`, and none after `, . ; : ! ?`
 * unless digits stand on both sides ("roll no.1" = "roll no. 1", but "3.5" ≠ "3. 5"); trailing
 * punctuation dropped; case folded; numbers in words written in digits ("ten" = "10",
 * "tenth" = "10th").
 *
 * Case is kept where it carries meaning: code (fenced blocks, `backtick spans`, lines that read
 * as code — see `splitCode`) is kept exactly as written; so are identifiers (`parseInput`,
 * `MAX_SIZE`) and, in mixed-case text, capitals that spell a function word ("the US" ≠ "the us",
 * "IT" ≠ "it"). A prompt written all in capitals is folded whole.
 */
import { isIdentifier, splitCode } from '../analysis/code-spans.js';
import { isNumberWord, NUMBER_WORD_STEMS, ordinalDigits, parseNumberWords } from '../analysis/number-words.js';
import { foldTypography } from '../analysis/prompt-lexer.js';
import { closedClassOf, IGNORED_WORDS } from '../analysis/word-classes.js';

/** `text` normalised for the exact key (see the file comment). */
export function normalizePromptText(text: string): string {
  const segments = splitCode(foldTypography(text));
  const parts = segments.map((segment) => (segment.code ? segment.text : normalizeProse(segment.text))).filter((part) => part.length > 0);
  const last = segments[segments.length - 1];
  if (last !== undefined && !last.code && parts.length > 0) parts[parts.length - 1] = parts[parts.length - 1]!.replace(/[.!?;:,]+$/u, '');
  // Segment boundaries are marked so that code and prose can never run into each other.
  return parts.join('\u0001');
}

function normalizeProse(text: string): string {
  const mixedCase = /\p{Ll}/u.test(text);
  const spaced = text
    .replace(/\s+/gu, ' ')
    .trim()
    .replace(/ +([,.;:!?)\]}])/gu, '$1')
    .replace(/([([{]) +/gu, '$1')
    .replace(/(.)([,.;:!?]) +(?=(.))/gu, (match, before: string, mark: string, _after: string, offset: number, whole: string) => {
      const after = whole[offset + match.length] ?? '';
      return /\d/u.test(before) && /\d/u.test(after) ? match : `${before}${mark}`;
    });
  // Most prose has no identifier and no capitalised word to keep: fold it whole.
  const cased = MAY_KEEP_CASE.test(spaced)
    ? spaced.replace(/[\p{L}\p{N}_]+/gu, (word) => (keepsCase(word, mixedCase) ? word : word.toLowerCase()))
    : spaced.toLowerCase();
  return NUMBER_WORD.test(cased) ? spelledNumbersAsDigits(cased) : cased;
}

const MAY_KEEP_CASE = /_|\p{Ll}\p{Lu}|\p{Lu}\p{Lu}/u;
const NUMBER_WORD = new RegExp(`\\b(?:${NUMBER_WORD_STEMS.join('|')})`, 'u');

function keepsCase(word: string, mixedCase: boolean): boolean {
  if (isIdentifier(word)) return true;
  const lower = word.toLowerCase();
  return mixedCase && /^\p{Lu}{2,}$/u.test(word) && (closedClassOf(lower) !== undefined || IGNORED_WORDS.has(lower));
}

/** "twenty-one" → "21", "one hundred and five" → "105", "tenth" → "10th" (lower-case input). */
function spelledNumbersAsDigits(text: string): string {
  const words = [...text.matchAll(/\p{L}+/gu)];
  let out = '';
  let cursor = 0;
  for (let index = 0; index < words.length; index++) {
    if (!isNumberWord(words[index]![0])) continue;
    // Only words joined by spaces or hyphens make one numeral.
    let run = index + 1;
    while (run < words.length && /^[ -]$/u.test(text.slice(words[run - 1]!.index + words[run - 1]![0].length, words[run]!.index))) run += 1;
    const parsed = parseNumberWords(
      words.slice(index, run).map((match) => match[0]),
      0,
    );
    if (parsed === undefined) continue;
    const first = words[index]!;
    const lastWord = words[index + parsed.length - 1]!;
    out += text.slice(cursor, first.index);
    out += parsed.ordinal && Number.isInteger(parsed.value) ? ordinalDigits(parsed.value) : String(parsed.value);
    cursor = lastWord.index + lastWord[0].length;
    index += parsed.length - 1;
  }
  return out + text.slice(cursor);
}
