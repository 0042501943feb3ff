/**
 * The comparison key of a content word. Morphology is the Porter2 stemmer's (Martin Porter's
 * English Snowball algorithm, from `wink-porter2-stemmer`): "tries", "tried" and "try" share the
 * stem `tri`, "size" and "sized" the stem `size`. Porter2 also strips derivational suffixes,
 * which change meaning ("universe" / "university" → `univers`, "experiment" / "experience" →
 * `experi`); so the key keeps what the stemmer removed beyond inflection: `univers` and
 * `univers+iti`. The past-tense ending is kept apart too: "owns" and "owned" differ in tense, and
 * the verifier compares tense ("who owns it" and "who owned it" ask different things).
 * British and American spellings (-our/-or, -ise/-ize, -yse/-yze, -tre/-ter, -ogue/-og) meet first.
 */
import { stem as porter2 } from './porter2.js';
import { BoundedMemo } from '../../util/bounded-memo.js';

/** The key of a content word, and whether it carries the past-tense (or past-participle) ending. */
export interface WordKey {
  key: string;
  past: boolean;
}

const KEYS = new BoundedMemo(20_000, (word: string): WordKey => (/^[a-z]+$/.test(word) ? computeKey(americanSpelling(word)) : { key: word, past: false }));

/** The key of a lower-case word; words with digits or other scripts are their own key. */
export function wordKey(word: string): WordKey {
  return KEYS.get(word);
}

function americanSpelling(word: string): string {
  if (word.length < 6) return word;
  return word
    .replace(/^(.{3,})our(s|ed|ing|ite|ites|able|ably|er|ers|ful|less)?$/, '$1or$2')
    .replace(/^(.{3,})is(e|es|ed|ing|er|ers|ation|ations)$/, '$1iz$2')
    .replace(/^(.{3,})ys(e|es|ed|ing)$/, '$1yz$2')
    .replace(/^(.{2,})([bt])re(s|d)?$/, '$1$2er$3')
    .replace(/^(.{3,})ogue(s)?$/, '$1og$2');
}

function computeKey(word: string): WordKey {
  const stem = porter2(word);
  let aligned = 0;
  while (aligned < stem.length && aligned < word.length && stem[aligned] === word[aligned]) aligned += 1;
  if (aligned < stem.length) {
    // Porter2 turns a final y into i ("try" → "tri") and restores a final e ("sized" → "size").
    const last = aligned === stem.length - 1;
    const yToI = last && stem[aligned] === 'i' && word[aligned] === 'y';
    const restoredE = last && stem[aligned] === 'e';
    if (yToI) aligned += 1;
    else if (!restoredE) return { key: word, past: false }; // irregular alignment: the word is its own key
  }
  let remainder = word.slice(aligned);
  const final = stem[stem.length - 1];
  // A doubled final consonant before an ending: "running" = run + ning, "stopped" = stop + ped.
  if (remainder.length > 2 && remainder[0] === final && /^(ing|ed|er|est)$/.test(remainder.slice(1))) remainder = remainder.slice(1);
  const { rest, past } = stripInflection(remainder);
  return { key: rest === '' ? stem : `${stem}+${rest}`, past };
}

/** Removes one inflectional ending (-s, -es, -ed, -d, -ing) and a silent e from what follows a stem. */
function stripInflection(remainder: string): { rest: string; past: boolean } {
  let rest = remainder;
  let past = false;
  if (/(ies|ied)$/.test(rest)) {
    past = rest.endsWith('ied');
    rest = `${rest.slice(0, -3)}y`;
  } else if (rest.endsWith('ing')) rest = rest.slice(0, -3);
  else if (rest.endsWith('ed')) {
    past = true;
    rest = rest.slice(0, -2);
  } else if (rest === 'd') {
    past = true;
    rest = '';
  } else if (rest.endsWith('es')) rest = rest.slice(0, -2);
  else if (rest.endsWith('s') && !rest.endsWith('ss')) rest = rest.slice(0, -1);
  if (rest.endsWith('e')) rest = rest.slice(0, -1);
  // Porter2 writes a derivational final y as i ("universiti"): spell both the same way.
  if (rest.endsWith('i')) rest = `${rest.slice(0, -1)}y`;
  return { rest, past };
}
