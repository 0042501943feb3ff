/**
 * A bounded local spool for usage records that could not be written to PostgreSQL.
 *
 * Layout of `dir`:
 * - `usage-<epochMs>-<pid>-<seq>-<count>.jsonl` — one file per spooled batch, one JSON record per
 *   line. Each file is written once to a `.tmp` name, fsync'd, renamed into place and the directory
 *   fsync'd, so a file is either complete or absent after a crash. Files are replayed oldest first
 *   and deleted only after every row in them is committed (replays are idempotent on request id).
 *   The record count is in the name, so counting the spool needs no reads.
 * - `dead-letter.jsonl` — records PostgreSQL rejected on their own (a CHECK or data error), one
 *   JSON object a line: `{"dead_lettered_at", "error": {"code", "message"}, "record"}`. Never
 *   replayed; for an operator to inspect. Not counted against `maxRecords`.
 *
 * Bound: at most `maxRecords` spooled records. When full, new records are refused (the oldest are
 * kept, since they are the ones a gap in accounting would hide) and counted through `onDrop`.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { UsageRecord } from './usage-ledger.js';

/** Options of a `UsageSpool`. */
export interface UsageSpoolOptions {
  /** Directory of the spool files (created when missing). */
  dir: string;
  /** Most records the spool holds. */
  maxRecords: number;
  /** Names files in time order; epoch milliseconds. */
  now: () => number;
  /** Called with the number of records refused because the spool is full. */
  onDrop?: (count: number) => void;
}

/** One spool file, as listed. */
export interface SpoolFile {
  name: string;
  count: number;
}

/** Why PostgreSQL refused a record, as the dead-letter file keeps it. */
export interface DeadLetterReason {
  code: string;
  message: string;
}

/** The name of the dead-letter file inside the spool directory. */
export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

const SPOOL_FILE = /^usage-(\d+)-(\d+)-(\d+)-(\d+)\.jsonl$/;

/** Append-only JSON-lines files of records waiting for PostgreSQL, plus a dead-letter file. */
export class UsageSpool {
  readonly dir: string;
  private readonly maxRecords: number;
  private readonly now: () => number;
  private readonly onDrop: ((count: number) => void) | undefined;
  private spooled = 0;
  private seq = 0;

  constructor(options: UsageSpoolOptions) {
    if (!Number.isInteger(options.maxRecords) || options.maxRecords <= 0) {
      throw new RangeError(`spoolMaxRecords should be a positive integer, got ${options.maxRecords}`);
    }
    this.dir = options.dir;
    this.maxRecords = options.maxRecords;
    this.now = options.now;
    this.onDrop = options.onDrop;
  }

  /** Records in the spool, as of the last `open`, `list`, `append` or `remove`. */
  count(): number {
    return this.spooled;
  }

  /** Creates the directory when missing and counts what earlier processes left. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.list();
  }

  /**
   * Writes `records` durably as one new file. Returns how many were accepted; the rest (the
   * newest, past `maxRecords`) are refused and reported through `onDrop`. Throws on I/O failure,
   * in which case nothing was accepted.
   */
  async append(records: readonly UsageRecord[]): Promise<number> {
    const room = Math.max(0, this.maxRecords - this.spooled);
    const accepted = records.slice(0, room);
    const refused = records.length - accepted.length;
    if (accepted.length > 0) {
      const name = `usage-${this.now()}-${process.pid}-${this.seq++}-${accepted.length}.jsonl`;
      await writeDurably(this.dir, name, accepted.map((record) => `${JSON.stringify(record)}\n`).join(''));
      this.spooled += accepted.length;
    }
    if (refused > 0) this.onDrop?.(refused);
    return accepted.length;
  }

  /** The spool files, oldest first (this process's and any other's sharing the directory). */
  async list(): Promise<SpoolFile[]> {
    const files: Array<SpoolFile & { at: number; pid: number; seq: number }> = [];
    for (const name of await readdir(this.dir)) {
      const match = SPOOL_FILE.exec(name);
      if (match === null) continue;
      files.push({ name, at: Number(match[1]), pid: Number(match[2]), seq: Number(match[3]), count: Number(match[4]) });
    }
    files.sort((a, b) => a.at - b.at || a.pid - b.pid || a.seq - b.seq);
    this.spooled = files.reduce((sum, file) => sum + file.count, 0);
    return files.map(({ name, count }) => ({ name, count }));
  }

  /**
   * The records of one file, and its lines that are not records (hand-edited or corrupt).
   * A file another process already replayed and deleted reads as empty.
   */
  async read(file: SpoolFile): Promise<{ records: UsageRecord[]; unreadable: string[] }> {
    let text: string;
    try {
      text = await readFile(join(this.dir, file.name), 'utf8');
    } catch (error) {
      if (isNotFound(error)) return { records: [], unreadable: [] };
      throw error;
    }
    const records: UsageRecord[] = [];
    const unreadable: string[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const record = parseRecord(line);
      if (record === undefined) unreadable.push(line);
      else records.push(record);
    }
    return { records, unreadable };
  }

  /** Deletes a replayed file; a file already deleted by another process is fine. */
  async remove(file: SpoolFile): Promise<void> {
    try {
      await rm(join(this.dir, file.name));
      this.spooled = Math.max(0, this.spooled - file.count);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Appends records PostgreSQL refused, with the reason, to the dead-letter file (fsync'd). */
  async deadLetter(entries: ReadonlyArray<{ record: unknown; reason: DeadLetterReason }>): Promise<void> {
    if (entries.length === 0) return;
    const at = new Date(this.now()).toISOString();
    const text = entries.map(({ record, reason }) => `${JSON.stringify({ dead_lettered_at: at, error: reason, record })}\n`).join('');
    const handle = await open(join(this.dir, DEAD_LETTER_FILE), 'a');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

async function writeDurably(dir: string, name: string, text: string): Promise<void> {
  const temporary = join(dir, `.${name}.tmp`);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, join(dir, name));
  // The rename is durable only once the directory entry is flushed.
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

function parseRecord(line: string): UsageRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (_error) {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  // Shape only; values PostgreSQL rejects are dead-lettered by the ledger like any bad row.
  if (typeof record.request_id !== 'string' || typeof record.created_at !== 'number') return undefined;
  return record as unknown as UsageRecord;
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
