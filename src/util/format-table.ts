/** Plain-text tables for the CLI. */

/** Options of `formatTable`. */
export interface FormatTableOptions {
  /** Indexes of the columns to align right (numbers); the others align left. */
  alignRight?: readonly number[];
}

/** Columns separated by two spaces, with a dashed rule under the header. */
export function formatTable(header: string[], rows: string[][], options: FormatTableOptions = {}): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const right = new Set(options.alignRight ?? []);
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (right.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
