/**
 * English numerals written in words: cardinals ("twenty-one", "two thousand five hundred",
 * "one hundred and five", "two dozen", "two and a half") and ordinals ("tenth", "twenty-first"),
 * so that "ten" and "10", "tenth" and "10th" compare equal. Ordinals are derived from the
 * cardinals by the spelling rule (add -th, -y becomes -ieth) plus the irregular forms.
 */

const CARDINAL_UNITS: Readonly<Record<string, number>> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
};
const CARDINAL_TENS: Readonly<Record<string, number>> = { twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90 };
const CARDINAL_SCALES: Readonly<Record<string, number>> = { hundred: 100, thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12 };
const IRREGULAR_ORDINALS: Readonly<Record<string, string>> = {
  one: 'first',
  two: 'second',
  three: 'third',
  five: 'fifth',
  eight: 'eighth',
  nine: 'ninth',
  twelve: 'twelfth',
};

function ordinalOf(cardinal: string): string {
  return IRREGULAR_ORDINALS[cardinal] ?? (cardinal.endsWith('y') ? `${cardinal.slice(0, -1)}ieth` : `${cardinal}th`);
}

function ordinals(cardinals: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(cardinals).map(([word, value]) => [ordinalOf(word), value]));
}

const ORDINAL_UNITS = ordinals(CARDINAL_UNITS);
const ORDINAL_TENS = ordinals(CARDINAL_TENS);
const ORDINAL_SCALES = ordinals(CARDINAL_SCALES);

/** Every word a numeral can start with (for a quick test before parsing). */
export const NUMBER_WORD_STEMS: readonly string[] = [
  ...new Set([CARDINAL_UNITS, CARDINAL_TENS, CARDINAL_SCALES, ORDINAL_UNITS, ORDINAL_TENS, ORDINAL_SCALES].flatMap((table) => Object.keys(table))),
].sort((a, b) => b.length - a.length);

/** A numeral found in a word sequence. */
export interface NumberWords {
  value: number;
  ordinal: boolean;
  /** How many words it spans (connecting "and", "a", "half" included). */
  length: number;
}

const NUMBER_WORDS: ReadonlySet<string> = new Set(NUMBER_WORD_STEMS);

/** Whether `word` can start a spelled-out numeral. */
export function isNumberWord(word: string): boolean {
  return NUMBER_WORDS.has(word);
}

/** The numeral spelled in lower-case `words` from `start`, if one starts there. */
export function parseNumberWords(words: readonly string[], start: number): NumberWords | undefined {
  let total = 0;
  let current = 0;
  let index = start;
  let last: 'unit' | 'tens' | 'scale' | undefined;
  let ordinal = false;
  while (index < words.length && !ordinal) {
    const word = words[index]!;
    const unit = CARDINAL_UNITS[word] ?? ORDINAL_UNITS[word];
    const tens = CARDINAL_TENS[word] ?? ORDINAL_TENS[word];
    const scale = CARDINAL_SCALES[word] ?? ORDINAL_SCALES[word];
    if (unit !== undefined) {
      if (last === 'unit' || (last === 'tens' && unit >= 10)) break;
      current += unit;
      last = 'unit';
    } else if (tens !== undefined) {
      if (last === 'unit' || last === 'tens') break;
      current += tens;
      last = 'tens';
    } else if (scale !== undefined) {
      if (last === 'scale' && current === 0) break;
      if (scale === 100) current = (current === 0 ? 1 : current) * 100;
      else {
        total += (current === 0 ? 1 : current) * scale;
        current = 0;
      }
      last = 'scale';
    } else if (word === 'dozen' && last !== 'scale') {
      current = (current === 0 ? 1 : current) * 12;
      last = 'scale';
    } else if (word === 'and' && last === 'scale' && index + 1 < words.length && isSmallNumber(words[index + 1]!)) {
      index += 1;
      continue;
    } else break;
    ordinal = word in ORDINAL_UNITS || word in ORDINAL_TENS || word in ORDINAL_SCALES;
    index += 1;
  }
  if (last === undefined) return undefined;
  let value = total + current;
  if (!ordinal && words[index] === 'and' && words[index + 1] === 'a' && words[index + 2] === 'half') {
    value += 0.5;
    index += 3;
  }
  return { value, ordinal, length: index - start };
}

function isSmallNumber(word: string): boolean {
  return word in CARDINAL_UNITS || word in CARDINAL_TENS || word in ORDINAL_UNITS || word in ORDINAL_TENS;
}

/** `value` as digits with the English ordinal suffix: 1st, 2nd, 3rd, 11th, 21st. */
export function ordinalDigits(value: number): string {
  const lastTwo = value % 100;
  const suffix = lastTwo >= 11 && lastTwo <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][value % 10] ?? 'th');
  return `${value}${suffix}`;
}

/** A number in its canonical digit form: `1,000` → `1000`, `.5` → `0.5`, `3,5` (decimal comma) → `3.5`. */
export function canonicalNumber(text: string): string {
  // `1,000` and `1,000,000` are thousands separators; `3,5` is a decimal comma; `3.5` stays distinct from `35`.
  const thousands = /^\d{1,3}(,\d{3})+(\.\d+)?$/u.test(text);
  const plain = thousands ? text.replace(/,/g, '') : text.replace(',', '.');
  const value = Number(plain);
  return Number.isFinite(value) && plain.length <= 15 ? String(value) : plain;
}
