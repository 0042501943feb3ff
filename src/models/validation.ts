/** One place where schema failures become E4500 errors that name the offending field. */
import type { z } from 'zod';
import { ValidationError } from './error-codes.js';

/** A schema issue as reported to callers: the dotted path and what is wrong there. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Renders zod issue paths as `logical_prompt.messages[0].role`. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Every issue of a failed parse, with paths. */
export function listIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path, prefix), message: issue.message }));
}

/** Parses `input` or throws E4500 whose message and `param` name the first offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = listIssues(result.error, prefix);
  const first = issues[0] ?? { path: '(root)', message: 'invalid' };
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new ValidationError('E4500', `Invalid request: ${first.path}: ${first.message}${more}`, {
    param: first.path,
    details: { issues },
  });
}
