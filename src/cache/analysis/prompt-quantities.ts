/**
 * Quantities in prompts: digits and spelled numerals become counts ("twenty-one" → 21, "10th" →
 * 10 ordinal, "1.5 million"), and counts with their units, clock times and dates become one key
 * each (`#10`, `~km`, `@15:30`, `date:2024-03-05`); "no. 5" and "#5" read "number 5".
 */
import type { Lexeme } from './prompt-lexer.js';
import { CURRENCY_SYMBOLS, clockTime, dateKey, meridiemOf, monthOf, unitAt } from './measures.js';
import { canonicalNumber, isNumberWord, ordinalDigits, parseNumberWords } from './number-words.js';

type WordLexeme = Extract<Lexeme, { type: 'word' }>;
/** A number: its value, whether it is an ordinal, and its words when it was spelled out. */
export type Count = { type: 'count'; value: number; ordinal: boolean; spelled: string | undefined };
/** A finished quantity key. */
export type Quantity = { type: 'quantity'; key: string };
/** A lexeme, or what the quantity passes made of lexemes. */
export type Piece = Lexeme | Count | Quantity;

const SCALE_WORDS: Readonly<Record<string, number>> = { hundred: 100, thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12, dozen: 12 };

/** Digits and spelled numerals become counts ("twenty-one" → 21, "10th" → 10 ordinal, "1.5 million"). */
export function counts(lexemes: Lexeme[]): Piece[] {
  const out: Piece[] = [];
  for (let index = 0; index < lexemes.length; index++) {
    const lexeme = lexemes[index]!;
    const next = lexemes[index + 1];
    if (lexeme.type === 'number') {
      let value = Number(canonicalNumber(lexeme.text));
      if (!Number.isFinite(value)) {
        out.push({ type: 'quantity', key: `#${lexeme.text}` });
        continue;
      }
      let ordinal = false;
      if (next?.type === 'word' && /^(st|nd|rd|th)$/.test(next.text) && next.attached) {
        ordinal = true;
        index += 1;
      } else if (next?.type === 'word' && /^x\d+$/.test(next.text) && next.attached) {
        // "800x600" reads as "800 x 600".
        out.push({ type: 'count', value, ordinal: false, spelled: undefined }, { ...next, text: 'x' });
        out.push({ type: 'count', value: Number(next.text.slice(1)), ordinal: false, spelled: undefined });
        index += 1;
        continue;
      } else if (next?.type === 'word' && SCALE_WORDS[next.text] !== undefined) {
        value *= SCALE_WORDS[next.text]!;
        index += 1;
      }
      out.push({ type: 'count', value, ordinal, spelled: undefined });
      continue;
    }
    if (lexeme.type === 'word' && isNumberWord(lexeme.text) && !(lexeme.text === 'second' && out[out.length - 1]?.type === 'count')) {
      const words: string[] = [];
      const positions: number[] = [];
      for (let cursor = index; cursor < lexemes.length; cursor++) {
        const item = lexemes[cursor]!;
        if (item.type === 'word') {
          words.push(item.text);
          positions.push(cursor);
        } else if (!(item.type === 'symbol' && item.text === '-' && lexemes[cursor + 1]?.type === 'word')) break;
      }
      const parsed = parseNumberWords(words, 0);
      if (parsed !== undefined) {
        out.push({ type: 'count', value: parsed.value, ordinal: parsed.ordinal, spelled: words.slice(0, parsed.length).join(' ') });
        index = positions[parsed.length - 1]!;
        continue;
      }
    }
    out.push(lexeme);
  }
  return out;
}

/** The key of a count: `#10`, `#10th`. */
export function countKey(count: Count): string {
  return `#${count.ordinal && Number.isInteger(count.value) ? ordinalDigits(count.value) : String(count.value)}`;
}

function isCount(piece: Piece | undefined): piece is Count {
  return piece?.type === 'count';
}

function isWord(piece: Piece | undefined, ...texts: string[]): piece is WordLexeme {
  return piece?.type === 'word' && (texts.length === 0 || texts.includes(piece.text));
}

function isSymbol(piece: Piece | undefined, text: string): boolean {
  return piece?.type === 'symbol' && piece.text === text;
}

function isDay(piece: Piece | undefined): piece is Count {
  return isCount(piece) && Number.isInteger(piece.value) && piece.value >= 1 && piece.value <= 31;
}

function isYear(piece: Piece | undefined): piece is Count {
  return isCount(piece) && !piece.ordinal && piece.spelled === undefined && Number.isInteger(piece.value) && piece.value >= 1000 && piece.value <= 2999;
}

/** Counts with their units, times and dates become quantities; "no. 5" reads "number 5". */
export function quantities(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (let index = 0; index < pieces.length; index++) {
    const piece = pieces[index]!;
    const next = pieces[index + 1];
    // "no. 12", "nr 12", "#12": the abbreviation of "number".
    if ((isWord(piece, 'no', 'nos', 'nr') || isSymbol(piece, '#')) && (isDigitCount(next) || (isSymbol(next, '.') && isDigitCount(pieces[index + 2])))) {
      out.push(wordPiece('number', piece));
      if (isSymbol(next, '.')) index += 1;
      continue;
    }
    if (piece.type === 'symbol' && CURRENCY_SYMBOLS.has(piece.text) && isCount(next)) {
      out.push({ type: 'quantity', key: countKey(next) }, { type: 'quantity', key: `~${unitAt([piece.text], 0)!.unit}` });
      index += 1;
      continue;
    }
    if (piece.type === 'date') {
      out.push({ type: 'quantity', key: `date:${piece.text}` });
      continue;
    }
    if (piece.type === 'time') {
      const [hours, minutes] = piece.text.split(':').map(Number);
      const meridiem = next?.type === 'word' ? meridiemOf(next.text) : undefined;
      const time = clockTime(hours!, minutes!, meridiem);
      out.push({ type: 'quantity', key: time === undefined ? `@${piece.text}` : `@${time}` });
      if (meridiem !== undefined) index += 1;
      continue;
    }
    const date = readDate(pieces, index);
    if (date !== undefined) {
      out.push({ type: 'quantity', key: `date:${date.key}` });
      index += date.length - 1;
      continue;
    }
    if (isCount(piece)) {
      const meridiem = next?.type === 'word' ? meridiemOf(next.text) : undefined;
      const time = meridiem === undefined || piece.ordinal ? undefined : clockTime(piece.value, 0, meridiem);
      if (time !== undefined) {
        out.push({ type: 'quantity', key: `@${time}` });
        index += 1;
        continue;
      }
      out.push({ type: 'quantity', key: countKey(piece) });
      const unitStart = isSymbol(next, '-') ? index + 2 : index + 1;
      const unit = unitAt(pieces.slice(unitStart, unitStart + 4).map(textOf), 0);
      if (unit !== undefined) {
        out.push({ type: 'quantity', key: `~${unit.unit}` });
        index = unitStart + unit.length - 1;
      }
      continue;
    }
    out.push(piece);
  }
  return out;
}

function isDigitCount(piece: Piece | undefined): boolean {
  return isCount(piece) && piece.spelled === undefined;
}

function textOf(piece: Piece): string {
  return piece.type === 'word' || piece.type === 'symbol' ? piece.text : '\u0000';
}

function wordPiece(text: string, like: Piece): WordLexeme {
  return { type: 'word', text, capitalised: false, acronym: false, initial: like.type === 'word' && like.initial, hyphenated: false, attached: false };
}

/** "March 5, 2024", "5 March 2024", "the 5th of March", "March 2024" at `index`. */
function readDate(pieces: Piece[], index: number): { key: string; length: number } | undefined {
  const piece = pieces[index];
  const month = piece?.type === 'word' ? monthOf(piece.text) : undefined;
  if (month !== undefined) {
    let cursor = index + 1;
    const day = isDay(pieces[cursor]) && !isYear(pieces[cursor]) ? (pieces[cursor] as Count).value : undefined;
    if (day !== undefined) cursor += 1;
    if (isSymbol(pieces[cursor], ',') && isYear(pieces[cursor + 1])) cursor += 1;
    const year = isYear(pieces[cursor]) ? (pieces[cursor] as Count).value : undefined;
    if (year !== undefined) cursor += 1;
    if (day === undefined && year === undefined) return undefined;
    const key = dateKey(year, month, day);
    return key === undefined ? undefined : { key, length: cursor - index };
  }
  if (!isDay(piece)) return undefined;
  let cursor = index + 1;
  if (isWord(pieces[cursor], 'of')) cursor += 1;
  const named = pieces[cursor];
  const dayMonth = named?.type === 'word' ? monthOf(named.text) : undefined;
  if (dayMonth === undefined) return undefined;
  cursor += 1;
  if (isSymbol(pieces[cursor], ',') && isYear(pieces[cursor + 1])) cursor += 1;
  const year = isYear(pieces[cursor]) ? (pieces[cursor] as Count).value : undefined;
  if (year !== undefined) cursor += 1;
  const key = dateKey(year, dayMonth, piece.value);
  return key === undefined ? undefined : { key, length: cursor - index };
}
