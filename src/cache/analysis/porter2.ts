/**
 * The Porter2 (English Snowball) stemmer of `wink-porter2-stemmer`, a CommonJS module: loaded
 * through `createRequire` and given its type here.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const porter2 = require('wink-porter2-stemmer') as (word: string) => string;

/** The Porter2 stem of a lower-case English word. */
export function stem(word: string): string {
  return porter2(word);
}
