/**
 * The structure verifier of the semantic cache, class by class: word and role swaps, near-miss
 * questions (interrogatives, quantifiers, modals, tense, negation and its scope), quantities in
 * any form, trivial variants, code, and the two labelled sets.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalEmbedder } from '../src/cache/embedders/local-embedder.js';
import { canonicalRequestKey } from '../src/cache/keys/canonical-request-key.js';
import { promptStructure } from '../src/cache/analysis/prompt-structure.js';
import { signatureOf, verifierAllows, verifierKey, verifierKeyAndSignature } from '../src/cache/similarity/structure-verifier.js';
import { cosineSimilarity } from '../src/cache/similarity/vector-codec.js';
import { wordKey } from '../src/cache/analysis/word-key.js';
import { parseInferenceRequest } from '../src/models/inference-request.js';

const lexical = (a: string, b: string) => verifierAllows(a, b, true);
const neural = (a: string, b: string) => verifierAllows(a, b, false);
const keys = (text: string) => promptStructure(text).map((token) => token.key);

describe('word keys (Porter2 morphology)', () => {
  it('gives inflected forms one stem and keeps derivations and the past apart', () => {
    expect(wordKey('tries').key).toBe(wordKey('try').key);
    expect(wordKey('tried').key).toBe(wordKey('try').key);
    expect(wordKey('sizes').key).toBe(wordKey('size').key);
    expect(wordKey('running').key).toBe(wordKey('run').key);
    expect(wordKey('universities').key).toBe(wordKey('university').key);
    expect(wordKey('university').key).not.toBe(wordKey('universe').key);
    expect(wordKey('experiment').key).not.toBe(wordKey('experience').key);
    expect(wordKey('colour').key).toBe(wordKey('color').key);
    expect(wordKey('organise').key).toBe(wordKey('organize').key);
    expect([wordKey('owned').past, wordKey('owns').past, wordKey('tried').past, wordKey('tries').past]).toEqual([true, false, true, false]);
  });

  it('lets a hyphenated participle match its base ("medium-sized" = "medium-size")', () => {
    expect(lexical('Order a medium-sized pizza.', 'Order a medium-size pizza.')).toBe(true);
  });
});

describe('structure verifier: word and role swaps', () => {
  const swaps: Array<[string, string]> = [
    ['Dog bites man.', 'Man bites dog.'],
    ['Also Cai Feng had a son, Cai Mao.', 'Also Cai Mao had a son, Cai Feng.'],
    ['The new protocol can reduce complexity and increase payload.', 'The new protocol can increase complexity and reduce payload.'],
    ['It was a British ship that later became a French privateer.', 'It was a French ship that later became a British privateer.'],
    ['Is the Missouri a tributary of the Mississippi?', 'Is the Mississippi a tributary of the Missouri?'],
    ['Did Spain beat Italy in the final?', 'Did Italy beat Spain in the final?'],
    ['Convert 20 euros to dollars.', 'Convert 20 dollars to euros.'],
    ['Is a laptop better than a desktop?', 'Is a desktop better than a laptop?'],
    ['Email the report to Alice from Bob.', 'Email the report to Bob from Alice.'],
  ];
  it.each(swaps)('refuses %j / %j with either embedder', (a, b) => {
    expect(lexical(a, b)).toBe(false);
    expect(neural(a, b)).toBe(false);
  });

  it('allows the rewordings that keep every role', () => {
    expect(lexical('What is the difference between TCP and UDP?', 'What is the difference between UDP and TCP?')).toBe(true);
    expect(lexical('What is the capital of France?', "What is France's capital?")).toBe(true);
    expect(lexical('How do I delete a branch in git?', 'How do I delete a git branch?')).toBe(true);
    expect(lexical('Give me a recipe for banana bread.', 'Give me a banana bread recipe.')).toBe(true);
    expect(lexical('How do I permanently delete my account?', 'How do I delete my account permanently?')).toBe(true);
  });
});

describe('structure verifier: near-miss questions of the same shape', () => {
  const nearMisses: Array<[string, string, string]> = [
    ['interrogative', 'When was Albert Einstein born?', 'Where was Albert Einstein born?'],
    ['interrogative', 'Why did the Roman Empire fall?', 'When did the Roman Empire fall?'],
    ['interrogative', 'Does the bank open on Saturdays?', 'When does the bank open on Saturdays?'],
    ['quantifier', 'Do all birds fly?', 'Do any birds fly?'],
    ['quantifier', 'Are all mushrooms poisonous?', 'Are some mushrooms poisonous?'],
    ['quantifier', 'List the planets.', 'List all the planets.'],
    ['modal', 'Can I take ibuprofen with coffee?', 'Should I take ibuprofen with coffee?'],
    ['modal', 'Will it rain tomorrow?', 'Might it rain tomorrow?'],
    ['tense', 'Who is the president of the company?', 'Who was the president of the company?'],
    ['tense', 'Does the library support async?', 'Did the library support async?'],
    ['tense', 'Who owns the Washington Post?', 'Who owned the Washington Post?'],
    ['negation', 'Is the bridge open?', 'Is the bridge not open?'],
    ['negation', 'Which apps work offline?', "Which apps don't work offline?"],
    ['negation scope', 'Why is the test not always failing?', 'Why is the test always not failing?'],
    ['negation scope', 'Explain why the light is not on and the fan is on.', 'Explain why the light is on and the fan is not on.'],
    ['number', 'Refund order 1234.', 'Refund order 1235.'],
    ['number', 'Set a timer for ten minutes.', 'Set a timer for 15 minutes.'],
    ['unit', 'Walk 5 km every day.', 'Walk 5 miles every day.'],
    ['time', 'Schedule the call for 3 pm.', 'Schedule the call for 3 am.'],
    ['date', 'The meeting is on 2024-03-05.', 'The meeting is on 2024-05-03.'],
  ];
  it.each(nearMisses)('refuses a change of %s: %j / %j, with either embedder', (_kind, a, b) => {
    expect(lexical(a, b)).toBe(false);
    expect(neural(a, b)).toBe(false);
  });

  it('puts the closed-class signature in the bucket key, so such candidates are never fetched', () => {
    expect(signatureOf(verifierKey('When was Albert Einstein born?', true))).not.toBe(signatureOf(verifierKey('Where was Albert Einstein born?', true)));
    expect(signatureOf(verifierKey('Refund order 1234', false))).not.toBe(signatureOf(verifierKey('Refund order 1235', false)));
    expect(signatureOf(verifierKey('How do I reset my password?', true))).toBe(signatureOf(verifierKey('How can I reset the password?', true)));
  });

  it('gives the key and its signature from one reading, as verifierKey and signatureOf do, for every prompt of the fixture', () => {
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/cache-pairs.json', import.meta.url), 'utf8')) as { pairs: Array<{ a: string; b: string }> };
    const texts = fixture.pairs.flatMap((pair) => [pair.a, pair.b]);
    expect(texts.length).toBeGreaterThan(100);
    for (const text of texts) {
      for (const lexicalMode of [true, false]) {
        const key = verifierKey(text, lexicalMode);
        expect(verifierKeyAndSignature(text, lexicalMode)).toEqual({ key, signature: signatureOf(key) });
      }
    }
  });
});

describe('structure verifier: the same quantity however it is written', () => {
  const same: Array<[string, string]> = [
    ['Set a timer for ten minutes.', 'Set a timer for 10 min.'],
    ['Where is roll no.1 seated?', 'Where is roll no. 1 seated?'],
    ['Order no. 5521 has not arrived.', 'Order number 5521 has not arrived.'],
    ['What happened on July 4, 1776?', 'What happened on 4 July 1776?'],
    ['The meeting is on 2024-03-05.', 'The meeting is on March 5th, 2024.'],
    ['Schedule the meeting for 15:30.', 'Schedule the meeting for 3:30 pm.'],
    ['Convert 100 °F to Celsius.', 'Convert 100 degrees Fahrenheit to Celsius.'],
    ['I need a flat under $2,000.', 'I need a flat under 2000 dollars.'],
    ['Is 0.5 mg enough?', 'Is .5 mg enough?'],
    ['Give me a twenty-one day plan.', 'Give me a 21-day plan.'],
    ['What is the 10th Fibonacci number?', 'What is the tenth Fibonacci number?'],
    ['How many ounces are in two and a half cups?', 'How many ounces are in 2.5 cups?'],
  ];
  it.each(same)('reads %j as %j', (a, b) => {
    expect(lexical(a, b)).toBe(true);
  });

  it('reads "no." before a number as "number", never as a negation', () => {
    expect(promptStructure('Where is roll no. 1 seated?').some((token) => token.role === 'neg')).toBe(false);
    expect(promptStructure('There is no seat for roll 1.').some((token) => token.role === 'neg')).toBe(true);
  });
});

describe('structure verifier: trivial variants and case', () => {
  it('never fails an entity check on case alone', () => {
    expect(lexical('What is the population of India?', 'what is the population of india')).toBe(true);
    expect(neural('What is the population of India?', 'what is the population of india')).toBe(true);
    expect(lexical('Write a haiku about the Universe.', 'Write a haiku about the universe.')).toBe(true);
    expect(lexical('WHAT IS A ROTH IRA?', 'What is a Roth IRA?')).toBe(true);
  });

  it('reads contractions and their spelled-out forms alike', () => {
    expect(lexical("Why doesn't my laptop charge?", 'Why does my laptop not charge?')).toBe(true);
    expect(lexical("What's the capital of France?", 'What is the capital of France?')).toBe(true);
    expect(lexical('How do I reset my password?', 'How can I reset my password?')).toBe(true);
  });

  it('compares code verbatim', () => {
    expect(lexical('Why does `X = 1` fail?', 'Why does `x = 1` fail?')).toBe(false);
    expect(lexical('Rename parseUserInput to parse', 'Rename parseuserinput to parse')).toBe(false);
    expect(keys('Rename `parse_input` please')).toEqual(['renam', '``parse_input`']);
  });

  it('keeps an acronym that spells a function word apart from the word', () => {
    expect(lexical('Who handles IT at the office?', 'Who handles it at the office?')).toBe(false);
  });
});

describe('structure verifier with a neural embedder', () => {
  it('leaves words the prompts do not share to the embedding, but not names', () => {
    expect(neural('How do I lose weight quickly?', 'How do I shed pounds quickly?')).toBe(true);
    expect(neural('What is the capital of France?', 'What is the capital of Germany?')).toBe(false);
    expect(neural('Is Paris safe for tourists?', 'Is London safe for tourists?')).toBe(false);
    expect(lexical('How do I lose weight quickly?', 'How do I shed pounds quickly?')).toBe(false);
  });
});

interface LabelledPair {
  a: string;
  b: string;
  label: 'same' | 'different';
  category?: string;
  kind?: string;
}

function load(file: string): LabelledPair[] {
  return (JSON.parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as { pairs: LabelledPair[] }).pairs;
}

/** What the cache answers for a pair: the exact key, else the local embedder's cosine and the verifier. */
async function hits(pairs: LabelledPair[]): Promise<boolean[]> {
  const embedder = new LocalEmbedder();
  const exact = (text: string) =>
    canonicalRequestKey(parseInferenceRequest({ agent_did: 'a', logical_prompt: { messages: [{ role: 'user', content: text }] } }), 's');
  return Promise.all(
    pairs.map(async (pair) => {
      if (exact(pair.a) === exact(pair.b)) return true;
      const [a, b] = await embedder.embed([pair.a, pair.b]);
      return cosineSimilarity(a!, b!) >= 0.85 && lexical(pair.a, pair.b);
    }),
  );
}

describe('labelled sets (local embedder at the default threshold)', () => {
  it('keeps the in-sample set (tests/fixtures/cache-pairs.json) free of wrong hits', async () => {
    const pairs = load('cache-pairs.json');
    expect(pairs.length).toBeGreaterThanOrEqual(200);
    const decided = await hits(pairs);
    expect(pairs.filter((pair, index) => decided[index] && pair.label === 'different')).toEqual([]);
    expect(decided.filter(Boolean).length).toBeGreaterThan(40);
  });

  it('meets the goals on the held-out set (tests/fixtures/cache-heldout.json)', async () => {
    const pairs = load('cache-heldout.json');
    const categories = [
      'paraphrase',
      'word_swap',
      'role_swap',
      'quantifier',
      'modal',
      'interrogative',
      'tense',
      'negation',
      'number_format',
      'case_punctuation',
    ];
    expect(pairs.length).toBeGreaterThanOrEqual(500);
    for (const category of categories) expect(pairs.filter((pair) => pair.category === category).length).toBeGreaterThanOrEqual(30);
    expect(pairs.every((pair) => categories.includes(pair.category!) && (pair.label === 'same' || pair.label === 'different'))).toBe(true);
    const decided = await hits(pairs);
    const hitsOf = (category: string) => pairs.filter((pair, index) => pair.category === category && decided[index]).length;
    const count = (category: string) => pairs.filter((pair) => pair.category === category).length;
    const allHits = decided.filter(Boolean).length;
    const wrong = pairs.filter((pair, index) => decided[index] && pair.label === 'different').length;
    expect((allHits - wrong) / allHits).toBeGreaterThanOrEqual(0.99);
    expect(hitsOf('word_swap')).toBeLessThanOrEqual(0.01 * count('word_swap'));
    expect(hitsOf('case_punctuation')).toBeGreaterThanOrEqual(0.99 * count('case_punctuation'));
  });
});
