/**
 * The layout rules of ARCHITECTURE.md, checked on the source itself: which top-level folder of
 * `src/` may import which, how many files a folder holds, and comments that stand on their own.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/**
 * Layers, lowest first. A module may import from its own folder and from folders of a lower rank;
 * folders of one rank are independent features and may not import each other.
 */
const RANK: Record<string, number> = {
  models: 0,
  util: 1,
  config: 2,
  observability: 3,
  state: 4,
  providers: 5,
  pipeline: 6,
  limits: 7,
  cache: 7,
  resilience: 8,
  accounting: 8,
  routing: 9,
  gateway: 10,
  server: 11,
  cli: 12,
  index: 12,
};

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** `src/limits/x.ts` → `limits`; `src/cli.ts` → `cli`. */
function topFolder(path: string): string {
  const [first = ''] = relative(SRC, path).split('/');
  return first.replace(/\.ts$/, '');
}

function relativeImports(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) => resolve(dirname(path), match[1]!.replace(/\.js$/, '.ts')));
}

describe('source layout', () => {
  const files = sourceFiles(SRC);

  it('knows the layer of every top-level folder', () => {
    const unknown = [...new Set(files.map(topFolder))].filter((folder) => RANK[folder] === undefined);
    expect(unknown).toEqual([]);
  });

  it('never imports a higher layer or a peer feature', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = topFolder(file);
      for (const target of relativeImports(file)) {
        const to = topFolder(target);
        if (to === from) continue;
        if ((RANK[to] ?? Infinity) >= (RANK[from] ?? -Infinity)) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps at most 12 files directly in any folder', () => {
    const crowded = [...new Set(files.map(dirname))]
      .map((directory) => ({ directory: relative(SRC, directory) || '.', files: readdirSync(directory).filter((name) => name.endsWith('.ts')).length }))
      .filter((entry) => entry.files > 12);
    expect(crowded).toEqual([]);
  });

  it('has comments that point to nothing outside the repository', () => {
    const pointers = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, index) => ({ line, at: `${relative(SRC, file)}:${index + 1}` }))
        .filter(({ line }) => /\b(the brief|brief's|DESIGN(\.md| §)|issue \d+)/i.test(line))
        .map(({ at }) => at),
    );
    expect(pointers).toEqual([]);
  });

  it('never hands a request signal to an API that needs a real AbortSignal (request signals may be LightAborts)', () => {
    const uses = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, index) => ({ line, at: `${relative(SRC, file)}:${index + 1}` }))
        .filter(({ line }) => !/^\s*(\*|\/\/)/.test(line) && /AbortSignal\.any\(|\.throwIfAborted\(|\.onabort\b|\bevents\.once\(|\bfetch\(/.test(line))
        .map(({ at }) => at),
    );
    expect(uses).toEqual([]);
  });
});
