/**
 * The durable usage ledger: one row per request in PostgreSQL, written in batches off the hot path.
 *
 * - `record()` only appends to an in-memory buffer (bounded by `maxBufferedRecords`; past it, and
 *   after `close()`, records are counted through `onDrop`). A timer flushes every
 *   `flushIntervalMs`, and reaching `batchSize` buffered records starts a flush at once.
 * - Inserts are one `unnest` statement per batch with `ON CONFLICT (request_id) DO NOTHING`, so
 *   writing a record twice (a replay, a retried batch) leaves one row.
 * - PostgreSQL unreachable, or a batch failing for any reason but the data: the records go to the
 *   local spool (usage-spool.ts) and are replayed once PostgreSQL answers; spool files are
 *   deleted only after their rows are committed.
 * - A data or constraint error (SQLSTATE class 22 or 23): the batch is bisected until the bad
 *   record is alone; it goes to the spool's dead-letter file and the rest are written.
 * - The schema is created or migrated on every (re)connection (usage-migrations.ts).
 */
import { Pool } from 'pg';
import type { PoolClient } from 'pg';
import type { UsageLedger, UsageLedgerHealth, UsageQuery, UsageRecord, UsageSummary } from './usage-ledger.js';
import { queryUsageTable } from './postgres-usage-query.js';
import { systemClock } from '../util/clock.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { redactSecrets } from '../util/redact.js';
import { migrateUsageSchema, quoteSchemaName, toUsageColumns, USAGE_COLUMNS, USAGE_TABLE } from './usage-migrations.js';
import { UsageSpool } from './usage-spool.js';

/** Options of a `PostgresUsageLedger` (config: `usage.*`). */
export interface PostgresUsageLedgerOptions {
  /** `postgres://…` connection string. */
  url: string;
  /** Records per insert statement. */
  batchSize: number;
  /** Longest a record waits in memory before its batch is written, in milliseconds. */
  flushIntervalMs: number;
  /** Directory of the spool and dead-letter files. */
  spoolDir: string;
  /** Most records the spool holds; past it new records are refused and counted by `onDrop`. */
  spoolMaxRecords: number;
  /** Time and timers; the system clock by default. */
  clock?: Clock;
  /** PostgreSQL schema of the ledger tables; default `l04_usage`. */
  schema?: string;
  /** Called once per transition between writable and not (the first determination included). */
  onStateChange?: (up: boolean, error?: unknown) => void;
  /** Called with the number of records that could not be kept (spool full, buffer full, closed). */
  onDrop?: (count: number) => void;
  /** Bound on opening a connection, in milliseconds; default 1000. */
  connectTimeoutMs?: number;
  /** Bound on one statement, in milliseconds; default 5000. */
  statementTimeoutMs?: number;
  /** Most records buffered in memory awaiting a flush; default 100 000. */
  maxBufferedRecords?: number;
  /** Most pooled connections; default 4. */
  poolMax?: number;
}

/** Usage records in PostgreSQL, with a local spool so that none is lost while it is away. */
export class PostgresUsageLedger implements UsageLedger {
  private readonly pool: Pool;
  private readonly spool: UsageSpool;
  private readonly clock: Clock;
  private readonly schema: string;
  private readonly table: string;
  private readonly insertSql: string;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedRecords: number;
  private readonly onStateChange: ((up: boolean, error?: unknown) => void) | undefined;
  private readonly onDrop: ((count: number) => void) | undefined;
  private buffer: UsageRecord[] = [];
  private readonly inFlight = new Set<UsageRecord[]>();
  private up: boolean | undefined;
  private ready = false;
  private lastError: string | undefined;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private wantReconnect = false;
  private started = false;
  private closed = false;
  private abandoned = false;
  private closing: Promise<void> | undefined;

  constructor(options: PostgresUsageLedgerOptions) {
    for (const [name, value] of [
      ['batchSize', options.batchSize],
      ['flushIntervalMs', options.flushIntervalMs],
    ] as const) {
      if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} should be a positive integer, got ${value}`);
    }
    this.clock = options.clock ?? systemClock;
    this.schema = options.schema ?? 'l04_usage';
    this.table = `${quoteSchemaName(this.schema)}.${USAGE_TABLE}`;
    this.batchSize = options.batchSize;
    this.flushIntervalMs = options.flushIntervalMs;
    this.maxBufferedRecords = options.maxBufferedRecords ?? 100_000;
    // A throwing callback must not break record() or surface as an uncaught error from a pool event.
    this.onStateChange = guarded(options.onStateChange);
    this.onDrop = guarded(options.onDrop);
    const unnest = USAGE_COLUMNS.map(([, type], index) => `$${index + 1}::${type}[]`).join(', ');
    this.insertSql = `INSERT INTO ${this.table} (${USAGE_COLUMNS.map(([name]) => name).join(', ')})
      SELECT * FROM unnest(${unnest}) ON CONFLICT (request_id) DO NOTHING`;
    this.spool = new UsageSpool({ dir: options.spoolDir, maxRecords: options.spoolMaxRecords, now: () => this.clock.now(), onDrop: this.onDrop });
    const statementTimeoutMs = options.statementTimeoutMs ?? 5_000;
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolMax ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 1_000,
      statement_timeout: statementTimeoutMs,
      // Client-side bound too, for a server that stops answering without closing the socket.
      query_timeout: statementTimeoutMs + 1_000,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      keepAlive: true,
      application_name: 'l04-usage-ledger',
    });
    // An idle connection dropped by the server must never become an uncaught 'error' event.
    this.pool.on('error', (error) => this.markDown(error));
  }

  /**
   * Opens the spool, connects and creates or migrates the schema, then replays any spool files in
   * the background and starts the flush timer. Bounded by the connect and statement timeouts;
   * never throws: when PostgreSQL is down, records spool and connecting is retried every flush.
   */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    try {
      await this.spool.open();
    } catch (error) {
      this.lastError = `spool directory unusable: ${describe(error)}`;
    }
    // Replaying a large spool can take a while: it runs in the background, not inside start().
    void this.kick(await this.connect());
    this.arm();
  }

  record(record: UsageRecord): void {
    if (this.closed || this.buffer.length >= this.maxBufferedRecords) {
      this.onDrop?.(1);
      return;
    }
    this.buffer.push(record);
    if (this.started && this.buffer.length >= this.batchSize) void this.kick(false);
  }

  /** Writes the buffer, and replays the spool when PostgreSQL answers; records it cannot write are spooled. Never rejects. */
  async flush(): Promise<void> {
    if (!this.started) return;
    await this.kick(true);
  }

  async query(query: UsageQuery): Promise<UsageSummary> {
    return queryUsageTable(this.pool, this.table, query);
  }

  /**
   * Stops accepting records, flushes, and spools whatever could not be written within
   * `timeoutMs` (default 3000); resolves within the bound. Idempotent.
   */
  close(timeoutMs = 3_000): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  health(): UsageLedgerHealth {
    let pending = this.buffer.length;
    for (const batch of this.inFlight) pending += batch.length;
    const health: UsageLedgerHealth = { backend: 'postgres', healthy: this.up === true, spooled: this.spool.count(), pending };
    if (this.lastError !== undefined) health.message = this.lastError;
    return health;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    const hardStop = this.delay(timeoutMs);
    // Keep a slice of the bound for spooling leftovers and closing the pool.
    const flushBudget = this.delay(timeoutMs - Math.min(500, timeoutMs / 4));
    try {
      // Never started: nothing was connected, so whatever was recorded goes straight to the spool.
      if (!this.started) await Promise.race([this.spool.open().catch(() => undefined), hardStop.promise]);
      const flushed = this.started && (await Promise.race([this.kick(true).then(() => true), flushBudget.promise.then(() => false)]));
      if (!flushed) {
        this.abandoned = true;
        const leftovers = this.buffer.splice(0);
        for (const batch of this.inFlight) leftovers.push(...batch);
        // If a batch in flight commits after all, its replay is a no-op (ON CONFLICT DO NOTHING).
        this.inFlight.clear();
        await Promise.race([this.spoolRecords(leftovers), hardStop.promise]);
      }
      await Promise.race([this.pool.end().catch(() => undefined), hardStop.promise]);
    } finally {
      flushBudget.cancel();
      hardStop.cancel();
    }
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimer(() => {
      void this.kick(true).finally(() => this.arm());
    }, this.flushIntervalMs);
  }

  /** Runs flush passes one at a time; a kick during a pass asks for one more pass. */
  private kick(reconnect: boolean): Promise<void> {
    this.rerun = true;
    this.wantReconnect ||= reconnect;
    this.running ??= this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    while (this.rerun && !this.abandoned) {
      this.rerun = false;
      const reconnect = this.wantReconnect;
      this.wantReconnect = false;
      try {
        await this.pass(reconnect);
      } catch (error) {
        this.lastError = describe(error);
      }
    }
    // Cleared in the same tick as the last check, so a kick arriving now starts a new loop.
    this.running = undefined;
  }

  private async pass(reconnect: boolean): Promise<void> {
    const writable = this.ready || (reconnect && (await this.connect()));
    let remaining = writable ? this.buffer.length : 0;
    while (remaining > 0 && this.ready && !this.abandoned) {
      const batch = this.buffer.splice(0, Math.min(this.batchSize, remaining));
      remaining -= batch.length;
      this.inFlight.add(batch);
      try {
        const left = await this.writeBatch(batch);
        if (!this.abandoned) await this.spoolRecords(left);
      } finally {
        this.inFlight.delete(batch);
      }
    }
    if (this.abandoned) return;
    if (this.ready) await this.replaySpool();
    else await this.spoolRecords(this.buffer.splice(0));
  }

  private async replaySpool(): Promise<void> {
    for (const file of await this.spool.list()) {
      if (!this.ready || this.abandoned) return;
      const { records, unreadable } = await this.spool.read(file);
      for (let index = 0; index < records.length; index += this.batchSize) {
        const left = await this.writeBatch(records.slice(index, index + this.batchSize));
        if (left.length > 0) return; // the file stays for the next replay
      }
      await this.spool.deadLetter(unreadable.map((line) => ({ record: line, reason: { code: 'unreadable', message: `not a usage record in ${file.name}` } })));
      await this.spool.remove(file);
    }
  }

  /**
   * Inserts `records`; returns those left unwritten because PostgreSQL became unreachable (none
   * when every record landed or was dead-lettered). Bisects on data errors to find the bad rows.
   */
  private async writeBatch(records: UsageRecord[]): Promise<UsageRecord[]> {
    if (records.length === 0) return [];
    try {
      await this.pool.query(this.insertSql, toUsageColumns(records));
      this.markUp();
      return [];
    } catch (error) {
      if (!isDataError(error)) {
        this.markDown(error);
        return records;
      }
      if (records.length === 1) {
        try {
          await this.spool.deadLetter([{ record: records[0], reason: { code: sqlState(error) ?? 'unknown', message: describe(error) } }]);
          return [];
        } catch (deadLetterError) {
          this.lastError = `dead-letter file unwritable: ${describe(deadLetterError)}`;
          return records;
        }
      }
      const middle = Math.ceil(records.length / 2);
      const left = await this.writeBatch(records.slice(0, middle));
      if (left.length > 0) return [...left, ...records.slice(middle)];
      return this.writeBatch(records.slice(middle));
    }
  }

  /** Spools `records`; if the spool cannot be written they go back to the buffer (bounded). */
  private async spoolRecords(records: UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      await this.spool.append(records);
    } catch (error) {
      this.lastError = `spool unwritable: ${describe(error)}`;
      if (this.abandoned) {
        this.onDrop?.(records.length);
        return;
      }
      const room = Math.max(0, this.maxBufferedRecords - this.buffer.length);
      this.buffer.push(...records.slice(0, room));
      if (records.length > room) this.onDrop?.(records.length - room);
    }
  }

  /** Connects and migrates; true when the ledger can write. */
  private async connect(): Promise<boolean> {
    let client: PoolClient | undefined;
    const ignore = (): void => undefined; // errors surface through the query in progress
    try {
      client = await this.pool.connect();
      client.on('error', ignore);
      await migrateUsageSchema(client, this.schema);
      client.off('error', ignore);
      client.release();
      this.ready = true;
      this.markUp();
      return true;
    } catch (error) {
      client?.off('error', ignore);
      client?.release(error instanceof Error ? error : true);
      this.markDown(error);
      return false;
    }
  }

  private markUp(): void {
    this.lastError = undefined;
    if (this.up === true) return;
    this.up = true;
    this.onStateChange?.(true);
  }

  private markDown(error: unknown): void {
    this.ready = false;
    this.lastError = describe(error);
    if (this.up === false) return;
    this.up = false;
    this.onStateChange?.(false, error);
  }

  private delay(ms: number): { promise: Promise<void>; cancel: () => void } {
    let handle: TimerHandle | undefined;
    const promise = new Promise<void>((resolve) => {
      handle = this.clock.setTimer(resolve, ms);
    });
    return { promise, cancel: () => handle?.cancel() };
  }
}

function guarded<Args extends unknown[]>(callback: ((...args: Args) => void) | undefined): ((...args: Args) => void) | undefined {
  if (callback === undefined) return undefined;
  return (...args) => {
    try {
      callback(...args);
    } catch (_error) {
      // the ledger's own work goes on
    }
  };
}

function sqlState(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Data exceptions (22xxx) and integrity violations (23xxx) belong to a row, not to the connection. */
function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

function describe(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error));
}
