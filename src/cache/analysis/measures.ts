/**
 * Units, currencies, months and clock times, so that a quantity compares equal however it is
 * written: "5 km" = "5 kilometres" = "5km", "$2,000" = "2000 dollars", "3:30 pm" = "15:30",
 * "March 5, 2024" = "5 March 2024" = "2024-03-05". Units count only right after a number, so
 * "in", "m" or "second" keep their other meanings elsewhere.
 */

const UNITS: Readonly<Record<string, readonly string[]>> = {
  km: ['km', 'kms', 'kilometer', 'kilometers', 'kilometre', 'kilometres'],
  m: ['m', 'meter', 'meters', 'metre', 'metres'],
  cm: ['cm', 'centimeter', 'centimeters', 'centimetre', 'centimetres'],
  mm: ['mm', 'millimeter', 'millimeters', 'millimetre', 'millimetres'],
  mile: ['mi', 'mile', 'miles'],
  yard: ['yd', 'yds', 'yard', 'yards'],
  foot: ['ft', 'foot', 'feet'],
  inch: ['inch', 'inches'],
  kg: ['kg', 'kgs', 'kilo', 'kilos', 'kilogram', 'kilograms', 'kilogramme', 'kilogrammes'],
  g: ['g', 'gram', 'grams', 'gramme', 'grammes'],
  mg: ['mg', 'milligram', 'milligrams', 'milligramme', 'milligrammes'],
  lb: ['lb', 'lbs', 'pound', 'pounds'],
  oz: ['oz', 'ounce', 'ounces'],
  l: ['l', 'liter', 'liters', 'litre', 'litres'],
  ml: ['ml', 'milliliter', 'milliliters', 'millilitre', 'millilitres'],
  gallon: ['gal', 'gallon', 'gallons'],
  ms: ['ms', 'millisecond', 'milliseconds'],
  s: ['s', 'sec', 'secs', 'second', 'seconds'],
  min: ['min', 'mins', 'minute', 'minutes'],
  h: ['h', 'hr', 'hrs', 'hour', 'hours'],
  day: ['day', 'days'],
  week: ['wk', 'wks', 'week', 'weeks'],
  month: ['mo', 'mos', 'month', 'months'],
  year: ['yr', 'yrs', 'year', 'years'],
  percent: ['%', 'percent', 'pct', 'per cent'],
  celsius: ['°c', '℃', 'celsius', 'centigrade', '° c', 'degree celsius', 'degrees celsius', 'degrees centigrade'],
  fahrenheit: ['°f', '℉', 'fahrenheit', '° f', 'degree fahrenheit', 'degrees fahrenheit'],
  degree: ['°', 'degree', 'degrees'],
  kb: ['kb', 'kilobyte', 'kilobytes'],
  mb: ['mb', 'megabyte', 'megabytes'],
  gb: ['gb', 'gigabyte', 'gigabytes'],
  tb: ['tb', 'terabyte', 'terabytes'],
  mph: ['mph', 'miles per hour', 'mile per hour'],
  kmh: ['kph', 'kmh', 'km/h', 'kilometers per hour', 'kilometres per hour'],
  px: ['px', 'pixel', 'pixels'],
  pt: ['pt', 'pts'],
  usd: ['$', 'usd', 'dollar', 'dollars', 'us dollars'],
  eur: ['€', 'eur', 'euro', 'euros'],
  gbp: ['£', 'gbp', 'pounds sterling'],
  jpy: ['¥', 'jpy', 'yen'],
};

/** Currency symbols, written before the amount. */
export const CURRENCY_SYMBOLS: ReadonlySet<string> = new Set(['$', '€', '£', '¥']);

const UNIT_BY_ALIAS = new Map<string, string>(Object.entries(UNITS).flatMap(([unit, aliases]) => aliases.map((alias) => [alias, unit] as const)));
const LONGEST_ALIAS = Math.max(...[...UNIT_BY_ALIAS.keys()].map((alias) => alias.split(' ').length));

/**
 * The unit named by the words at `start` (lower case; a symbol such as `°` counts as a word), and
 * how many words it spans; the longest alias wins ("degrees fahrenheit" over "degrees").
 */
export function unitAt(words: readonly string[], start: number): { unit: string; length: number } | undefined {
  for (let length = Math.min(LONGEST_ALIAS, words.length - start); length >= 1; length--) {
    const unit = UNIT_BY_ALIAS.get(words.slice(start, start + length).join(' '));
    if (unit !== undefined) return { unit, length };
  }
  // "°F" may arrive as one token or as the two tokens `°` and `f`.
  const glued = `${words[start] ?? ''}${words[start + 1] ?? ''}`;
  const unit = UNIT_BY_ALIAS.get(glued);
  return unit !== undefined && glued.startsWith('°') && glued.length > 1 ? { unit, length: 2 } : undefined;
}

const MONTHS: readonly string[] = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const MONTH_ABBREVIATIONS: readonly string[] = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const MONTH_BY_NAME = new Map<string, number>([
  ...MONTHS.map((name, index) => [name, index + 1] as const),
  ...MONTH_ABBREVIATIONS.map((name, index) => [name, index + 1] as const),
  ['sept', 9],
]);

/** The month number (1–12) named by a lower-case word ("march", "mar", "sept"), if any. */
export function monthOf(word: string): number | undefined {
  return MONTH_BY_NAME.get(word);
}

/** Whether a lower-case word is a.m. or p.m.; undefined for any other word. */
export function meridiemOf(word: string): 'am' | 'pm' | undefined {
  const bare = word.replace(/\./g, '');
  return bare === 'am' ? 'am' : bare === 'pm' ? 'pm' : undefined;
}

/** A clock time as `H:MM` on the 24-hour clock, or undefined when out of range. */
export function clockTime(hours: number, minutes: number, meridiem: 'am' | 'pm' | undefined): string | undefined {
  if (!Number.isInteger(hours) || !Number.isInteger(minutes) || minutes < 0 || minutes > 59) return undefined;
  if (meridiem !== undefined && (hours < 1 || hours > 12)) return undefined;
  if (hours < 0 || hours > 23) return undefined;
  const hour24 = meridiem === 'pm' ? (hours % 12) + 12 : meridiem === 'am' ? hours % 12 : hours;
  return `${hour24}:${String(minutes).padStart(2, '0')}`;
}

/** A calendar date key: `2024-03-05`, or `-03-05` without a year; undefined when out of range. */
export function dateKey(year: number | undefined, month: number, day: number | undefined): string | undefined {
  if (day !== undefined && (!Number.isInteger(day) || day < 1 || day > 31)) return undefined;
  const monthPart = String(month).padStart(2, '0');
  const yearPart = year === undefined ? '' : String(year);
  return day === undefined ? `${yearPart}-${monthPart}` : `${yearPart}-${monthPart}-${String(day).padStart(2, '0')}`;
}
