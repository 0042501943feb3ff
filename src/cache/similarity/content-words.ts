/**
 * Content words: the words of a prompt that carry its meaning, lower-cased and lightly stemmed,
 * without function words ("the", "how", "please"). Shared by the local embedder (which weighs
 * function words down) and the lexical guard (which requires the same content words).
 */

/** Words that carry little of a question's meaning. */
export const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  (
    'a an the of to in on at for from by with about as into over and or but if so than then is are was were be been being am ' +
    'do does did done can could would should will shall may might must have has had i me my mine we us our you your it its this that ' +
    'these those there here what which who whom whose how why when where please tell show give explain describe let any some just ' +
    'really very also again get got one way ways kind need want like know quick question help exactly actually basically simply ' +
    'generally usually typically so much many all few each every several other others more most'
  ).split(' '),
);

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu;

/** Every word of `text`, lower-cased, NFKC-normalised, apostrophes folded, in order. */
export function words(text: string): string[] {
  return (text.normalize('NFKC').toLowerCase().match(WORD) ?? []).map((word) => word.replace(/’/g, "'"));
}

/** A light suffix stripper so that plurals and verb forms share a stem. */
export function stemOf(word: string): string {
  const base = word.endsWith("'s") ? word.slice(0, -2) : word;
  if (base.length > 5 && base.endsWith('ing')) return base.slice(0, -3);
  if (base.length > 4 && base.endsWith('ed')) return base.slice(0, -2);
  if (base.length > 4 && base.endsWith('ies')) return `${base.slice(0, -3)}y`;
  if (base.length > 3 && base.endsWith('s') && !base.endsWith('ss')) return base.slice(0, -1);
  return base;
}

/** Words that give the words around them a direction: "from Boston to Denver", "X rather than Y". */
export const DIRECTIONAL_WORDS: ReadonlySet<string> = new Set(['to', 'from', 'into', 'onto', 'than', 'versus', 'vs', 'before', 'after', 'toward', 'towards']);

/** Whether `text` has a word that makes the order of its content words matter. */
export function isDirectional(text: string): boolean {
  return words(text).some((word) => DIRECTIONAL_WORDS.has(word));
}

/** The stems of the content words of `text`, unique, in order of first appearance. */
export function contentStems(text: string): string[] {
  const stems = new Set<string>();
  for (const word of words(text)) {
    const stem = stemOf(word);
    if (!FUNCTION_WORDS.has(word) && !FUNCTION_WORDS.has(stem)) stems.add(stem);
  }
  return [...stems];
}

/**
 * Whether every content stem of each side has a partner on the other: the same stem, or a
 * spelling variant sharing a prefix of at least 4 letters and 60% of the shorter stem
 * ("leaking"/"leaky", "color"/"colour") — but not "garden"/"garage". With `ordered`, the stems
 * must also pair up in the same order ("celsius to fahrenheit" ≠ "fahrenheit to celsius").
 */
export function contentStemsMatch(a: readonly string[], b: readonly string[], ordered = false): boolean {
  if (ordered) return a.length === b.length && a.every((stem, index) => isPartner(stem, b[index] ?? ''));
  return a.every((stem) => b.some((other) => isPartner(stem, other))) && b.every((stem) => a.some((other) => isPartner(stem, other)));
}

function isPartner(stem: string, other: string): boolean {
  if (other === stem) return true;
  const shorter = Math.min(stem.length, other.length);
  let common = 0;
  while (common < shorter && stem[common] === other[common]) common += 1;
  return common >= 4 && common >= 0.6 * shorter;
}
