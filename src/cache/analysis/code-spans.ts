/**
 * Splits a prompt into prose and code. Code is compared verbatim by both cache layers (case,
 * spacing and punctuation matter in code: `X` and `x` are different variables, `'a  b'` and
 * `'a b'` different strings); prose is normalised. Code is:
 *
 * - a fenced block (``` or ~~~) or an inline `backtick span`;
 * - a line pasted without fences that reads as code: it holds `{`, `}`, `=`, `=>`, `->`, `::`,
 *   or a call such as `print(x)` (a name directly followed by an opening parenthesis), or it is
 *   indented (two spaces or a tab) below another line, as the body of a block is.
 *
 * Prose that happens to match the line rule ("what is f(x)?") is only compared more strictly.
 */

/** A piece of a prompt: prose to normalise, or code to keep as written. */
export interface TextSegment {
  code: boolean;
  text: string;
}

const FENCE = /(^|\n)[ \t]*(```|~~~)[^\n]*\n[\s\S]*?(\n[ \t]*\2[ \t]*(?=\n|$)|$)/g;
const INLINE = /`[^`\n]+`/g;
const CODE_LINE = /[{}]|=>|->|::|[^=!<>]=(?!=)|==|\p{L}[\p{L}\p{N}_]*\(/u;

/** The prose and code segments of `text`, in order; adjacent prose segments are merged. */
export function splitCode(text: string): TextSegment[] {
  const segments: TextSegment[] = [];
  let last = 0;
  for (const match of text.matchAll(FENCE)) {
    const start = match.index + match[1]!.length;
    pushProse(segments, text.slice(last, start));
    segments.push({ code: true, text: text.slice(start, match.index + match[0].length).trim() });
    last = match.index + match[0].length;
  }
  pushProse(segments, text.slice(last));
  return segments;
}

function pushProse(segments: TextSegment[], text: string): void {
  if (text.length === 0) return;
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const ending = index < lines.length - 1 ? '\n' : '';
    const indentedBelow = /^(\t| {2,})\S/.test(line) && segments.some((segment) => segment.text.trim().length > 0);
    if (CODE_LINE.test(line) || indentedBelow) {
      segments.push({ code: true, text: line.trimEnd() });
      if (ending !== '') push(segments, { code: false, text: ending });
      return;
    }
    let cursor = 0;
    for (const match of line.matchAll(INLINE)) {
      push(segments, { code: false, text: line.slice(cursor, match.index) });
      segments.push({ code: true, text: match[0] });
      cursor = match.index + match[0].length;
    }
    push(segments, { code: false, text: line.slice(cursor) + ending });
  });
}

function push(segments: TextSegment[], segment: TextSegment): void {
  if (segment.text.length === 0) return;
  const previous = segments[segments.length - 1];
  if (previous !== undefined && !previous.code && !segment.code) previous.text += segment.text;
  else segments.push(segment);
}

/**
 * Whether a word is an identifier whose case matters: lowerCamelCase (`parseInput`, `useEffect`)
 * or with an underscore (`MAX_SIZE`, `user_id`). Capitalised and upper-case words (`JavaScript`,
 * `HTML`) are prose: they are case-folded like any word.
 */
export function isIdentifier(word: string): boolean {
  return word.includes('_') || /^\p{Ll}+\p{Lu}/u.test(word);
}
