/**
 * The closed word classes of English grammar that decide what a question asks: interrogatives,
 * auxiliaries and modals (with their tense), negators, quantifiers, and the function words
 * (pronouns, determiners, prepositions, conjunctions, particles) that give content words their
 * roles. Every word not listed here is a content word. The lists are the grammar's, complete for
 * each class; none was added for a particular prompt.
 */

/** Which part a word plays in the structure of a prompt. */
export type WordRole = 'wh' | 'aux' | 'neg' | 'quant' | 'function';

/** Interrogatives, by their canonical form ("which" asks what "what" asks; "whom" is "who"). */
const INTERROGATIVES: Readonly<Record<string, string>> = {
  what: 'what',
  which: 'what',
  who: 'who',
  whom: 'who',
  whose: 'whose',
  when: 'when',
  where: 'where',
  why: 'why',
  how: 'how',
};

/**
 * Auxiliaries carry tense (`be.present` for am/is/are, `be.past` for was/were, the same for do and
 * have) and modals carry modality; agreement (is/are, does/do, has/have) does not count.
 */
const AUXILIARIES: Readonly<Record<string, string>> = {
  am: 'be.present',
  is: 'be.present',
  are: 'be.present',
  was: 'be.past',
  were: 'be.past',
  be: 'be',
  been: 'be.perfect',
  being: 'be.progressive',
  do: 'do.present',
  does: 'do.present',
  did: 'do.past',
  have: 'have.present',
  has: 'have.present',
  had: 'have.past',
  will: 'will',
  would: 'would',
  shall: 'shall',
  should: 'should',
  can: 'can',
  could: 'could',
  may: 'may',
  might: 'might',
  must: 'must',
  ought: 'ought',
};

/** Negators: the negative particle, determiner, adverbs and pronouns, and the negative preposition. */
const NEGATORS: ReadonlySet<string> = new Set(['not', 'no', 'never', 'none', 'nobody', 'nothing', 'nowhere', 'neither', 'nor', 'without']);

/** Quantifying determiners and pronouns. */
const QUANTIFIERS: ReadonlySet<string> = new Set(
  (
    'all some any every each both either few many much most several more less fewer least enough ' +
    'everyone everybody everything everywhere someone somebody something somewhere anyone anybody anything anywhere'
  ).split(' '),
);

/** Pronouns, determiners, prepositions, conjunctions and particles. */
const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  // personal, possessive and reflexive pronouns; demonstratives; existential and deictic adverbs
  (
    'i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself ' +
    'we us our ours ourselves they them their theirs themselves this that these those there here ' +
    // prepositions
    'about above across after against along among amongst around as at before behind below beneath beside besides between ' +
    'beyond by despite down during except for from in inside into near of off on onto out outside over per since through ' +
    'throughout till to toward towards under underneath until up upon via versus vs with within than ' +
    // conjunctions and connective adverbs
    'and or but so yet because if unless although though while whereas whether then also too'
  ).split(' '),
);

/** Words dropped before comparison: articles, and "please", which changes no request. */
export const IGNORED_WORDS: ReadonlySet<string> = new Set(['a', 'an', 'the', 'please']);

/** The subjects of a "how do I / how can you / how does one …" question about a method. */
export const GENERIC_SUBJECTS: ReadonlySet<string> = new Set(['i', 'you', 'we', 'one']);

/** The role and canonical key of a closed-class word, or `undefined` for a content word. */
export function closedClassOf(word: string): { role: WordRole; key: string } | undefined {
  const interrogative = INTERROGATIVES[word];
  if (interrogative !== undefined) return { role: 'wh', key: interrogative };
  const auxiliary = AUXILIARIES[word];
  if (auxiliary !== undefined) return { role: 'aux', key: auxiliary };
  if (NEGATORS.has(word)) return { role: 'neg', key: word };
  if (QUANTIFIERS.has(word)) return { role: 'quant', key: word };
  if (FUNCTION_WORDS.has(word)) return { role: 'function', key: word };
  return undefined;
}

/** Prepositions whose phrase may also be written as a compound: "a branch in git" = "a git branch". */
export const COMPOUND_PREPOSITIONS: ReadonlySet<string> = new Set(['for', 'in', 'on', 'about']);

/** Contractions after which `'s` means "is" rather than a possessive. */
export const IS_CONTRACTION_HOSTS: ReadonlySet<string> = new Set([
  'it',
  'that',
  'there',
  'here',
  'what',
  'who',
  'where',
  'when',
  'why',
  'how',
  'he',
  'she',
  'this',
]);
