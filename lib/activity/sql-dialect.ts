import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/**
 * What differs between SQLite and MariaDB/MySQL, and how statements reach
 * each. Everything else (the schema, the queries) is written once against
 * this surface. Both drivers take `?` placeholders, and both databases accept
 * backquoted identifiers, so statements are shared as written; the dialect
 * supplies column types, upserts and row locking.
 */

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number | null;

/** Runs statements: a connection, or the inside of a transaction. */
export interface SqlExecutor {
  /** A statement that returns no rows; `changes` counts the rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** A query; rows as objects keyed by column name. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
}

/** Column types, named for what they hold. */
export type ColumnType =
  /** A string that is indexed or part of a key; `length` bounds it where the database needs a bound. */
  | { kind: 'string'; length: number }
  /** A long string, never indexed (a JSON document). */
  | { kind: 'text' }
  /** A 64-bit integer (counts, epoch milliseconds). */
  | { kind: 'integer' };

/** A table as the migrations declare it. */
export interface TableSpec {
  name: string;
  columns: { name: string; type: ColumnType; nullable?: boolean }[];
  primaryKey: string[];
  unique?: { name: string; columns: string[] }[];
  indexes?: { name: string; columns: string[] }[];
}

/** The SQL that differs between the databases. */
export interface SqlDialect {
  readonly name: 'sqlite' | 'mysql';
  /** Statements that create `table` with its keys and indexes unless it exists. */
  createTable(table: TableSpec): string[];
  /** An INSERT of `columns` that, when `key` already exists, updates the `update` columns instead. */
  upsert(table: string, columns: readonly string[], key: readonly string[], update: readonly string[]): string;
  /** Ends a SELECT inside a transaction so the rows read stay locked until it ends. */
  readonly forUpdate: string;
  /** The error is a primary key or unique constraint refusing a row. */
  isUniqueViolation(error: unknown): boolean;
}

/** An open database: statements, transactions, and the dialect to write them in. */
export interface SqlConnection extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `work` in a transaction that holds write locks from its start
   * (SQLite `BEGIN IMMEDIATE`; InnoDB row locks taken by `SELECT … FOR
   * UPDATE`), commits if it resolves, rolls back if it throws. With MySQL, a
   * deadlock or lock wait timeout runs `work` again (up to 3 times), so it
   * must not have effects outside the database.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `work` while holding a lock named `name` that excludes every other
   * process using the same database (SQLite: one transaction; MySQL:
   * `GET_LOCK`, since DDL there commits implicitly). For schema migrations.
   */
  exclusive<T>(name: string, work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const q = (name: string) => `\`${name}\``;
const list = (names: readonly string[]) => names.map(q).join(', ');

/** SQLite 3.24+ (better-sqlite3). */
export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  createTable(table) {
    const columns = table.columns.map((c) => `${q(c.name)} ${c.type.kind === 'integer' ? 'INTEGER' : 'TEXT'}${c.nullable ? '' : ' NOT NULL'}`);
    const constraints = [
      `PRIMARY KEY (${list(table.primaryKey)})`,
      ...(table.unique ?? []).map((u) => `CONSTRAINT ${q(u.name)} UNIQUE (${list(u.columns)})`),
    ];
    return [
      `CREATE TABLE IF NOT EXISTS ${q(table.name)} (${[...columns, ...constraints].join(', ')})`,
      ...(table.indexes ?? []).map((i) => `CREATE INDEX IF NOT EXISTS ${q(i.name)} ON ${q(table.name)} (${list(i.columns)})`),
    ];
  },
  upsert(table, columns, key, update) {
    return `INSERT INTO ${q(table)} (${list(columns)}) VALUES (${columns.map(() => '?').join(', ')}) `
      + `ON CONFLICT (${list(key)}) DO UPDATE SET ${update.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}`;
  },
  // BEGIN IMMEDIATE has already locked the whole database for writing.
  forUpdate: '',
  isUniqueViolation(error) {
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  },
};

/** MariaDB 10.3+ and MySQL 5.7+ (InnoDB, utf8mb4). */
export const mysqlDialect: SqlDialect = {
  name: 'mysql',
  createTable(table) {
    const type = (t: ColumnType) => (t.kind === 'integer' ? 'BIGINT' : t.kind === 'text' ? 'LONGTEXT' : `VARCHAR(${t.length})`);
    const parts = [
      ...table.columns.map((c) => `${q(c.name)} ${type(c.type)}${c.nullable ? ' NULL' : ' NOT NULL'}`),
      `PRIMARY KEY (${list(table.primaryKey)})`,
      ...(table.unique ?? []).map((u) => `UNIQUE KEY ${q(u.name)} (${list(u.columns)})`),
      // Inside CREATE TABLE: MySQL has no CREATE INDEX IF NOT EXISTS.
      ...(table.indexes ?? []).map((i) => `KEY ${q(i.name)} (${list(i.columns)})`),
    ];
    // Binary collation: ids compare and sort byte for byte, as in SQLite.
    return [`CREATE TABLE IF NOT EXISTS ${q(table.name)} (${parts.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`];
  },
  upsert(table, columns, _key, update) {
    // VALUES(col) is what both MariaDB and MySQL accept (MySQL 8.0.20 deprecates it for an alias MariaDB lacks).
    return `INSERT INTO ${q(table)} (${list(columns)}) VALUES (${columns.map(() => '?').join(', ')}) `
      + `ON DUPLICATE KEY UPDATE ${update.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}`;
  },
  forUpdate: ' FOR UPDATE',
  isUniqueViolation(error) {
    const e = error as { code?: unknown; errno?: unknown } | null;
    return e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
  },
};

/** A database named by URL, parsed. */
export type DatabaseLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'mysql'; host: string; port: number; user: string; password: string; database: string; ssl: { ca?: string } | undefined };

/**
 * Reads a database URL: `sqlite:/path/to/file.db` (also `sqlite:///abs/path`,
 * `sqlite:relative.db`, `sqlite::memory:`), or
 * `mysql://user:password@host:3306/database` (`mariadb://` alike; user and
 * password percent-encoded; `?ssl=true` for TLS with the system CAs,
 * `?ssl_ca=/path/ca.pem` for a private CA; certificates are always verified).
 *
 * @throws {TypeError} another scheme, or a MySQL URL without a database.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (!path) throw new TypeError('sqlite URL has no file path (sqlite:/path/to/file.db)');
    return { kind: 'sqlite', path };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('database URL must be sqlite:/path/file.db or mysql://user:password@host:port/database');
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
    throw new TypeError(`unsupported database URL scheme ${parsed.protocol} (sqlite:, mysql:, mariadb:)`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new TypeError('mysql URL has no database name (mysql://user:password@host:port/database)');
  const ca = parsed.searchParams.get('ssl_ca');
  const ssl = ca ? { ca } : ['true', '1', 'required'].includes(parsed.searchParams.get('ssl') ?? '') ? {} : undefined;
  return {
    kind: 'mysql',
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database,
    ssl,
  };
}

/**
 * Opens the database a URL names (see {@link parseDatabaseUrl}). SQLite runs
 * in WAL mode with `synchronous=NORMAL`: a commit survives a process crash
 * at once, and a power loss once the WAL is checkpointed or synced. The
 * MySQL driver (`mysql2`) is loaded only when a MySQL URL is opened.
 */
export async function openSqlConnection(url: string): Promise<SqlConnection> {
  const location = parseDatabaseUrl(url);
  if (location.kind === 'sqlite') return SqliteConnection.open(location.path);
  return MysqlConnection.open(location);
}

/** Turns shared by every connection of this process to one SQLite file. */
const sqliteTurns = new Map<string, { tail: Promise<unknown>; users: number }>();

/**
 * better-sqlite3 runs statements synchronously. An asynchronous transaction
 * could let another caller's statement slip into it between two awaits, so
 * every statement and transaction takes turns. The turns are shared by all
 * connections of this process to the same file: a second connection's
 * BEGIN IMMEDIATE would otherwise wait for the lock synchronously, blocking
 * the event loop the first connection needs to finish its transaction (a
 * deadlock until the busy timeout). Other processes are waited for with the
 * busy timeout, which blocks only as long as their write transaction.
 */
class SqliteConnection implements SqlConnection {
  readonly dialect = sqliteDialect;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly batch: Array<{ sql: string; params: readonly SqlValue[]; resolve: (r: { changes: number }) => void; reject: (e: Error) => void }> = [];
  private readonly turn: { tail: Promise<unknown>; users: number };
  private readonly direct: SqlExecutor;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    const shared = file === ':memory:' ? undefined : sqliteTurns.get(file);
    this.turn = shared ?? { tail: Promise.resolve(), users: 0 };
    this.turn.users++;
    if (!shared && file !== ':memory:') sqliteTurns.set(file, this.turn);
    this.direct = {
      run: async (sql, params = []) => ({ changes: this.prepare(sql).run(...params).changes }),
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.prepare(sql).all(...params) as T[],
    };
  }

  static open(path: string): SqliteConnection {
    const file = path === ':memory:' ? path : resolve(path);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    // `timeout`: how long a write waits for another process's write lock.
    const db = new Database(file, { timeout: 10_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return new SqliteConnection(db, file);
  }

  /**
   * Writes issued in the same turn of the event loop are committed together
   * (group commit): one WAL commit instead of one per statement, which is
   * most of the cost of a small write. Each promise settles after that
   * commit; a statement that fails (a constraint) fails alone, as SQLite
   * aborts only that statement and keeps the transaction.
   */
  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return new Promise((resolve, reject) => {
      this.batch.push({ sql, params, resolve, reject });
      if (this.batch.length === 1) setImmediate(() => void this.inTurn(async () => this.flush()));
    });
  }

  private flush(): void {
    const batch = this.batch.splice(0);
    if (batch.length === 0) return; // flushed already, by close()
    const results: Array<{ changes: number } | Error> = [];
    this.prepare('BEGIN IMMEDIATE').run();
    try {
      for (const write of batch) {
        try {
          results.push({ changes: this.prepare(write.sql).run(...write.params).changes });
        } catch (error) {
          results.push(error as Error);
        }
      }
      this.prepare('COMMIT').run();
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const write of batch) write.reject(error as Error);
      return;
    }
    batch.forEach((write, i) => {
      const result = results[i]!;
      if (result instanceof Error) write.reject(result);
      else write.resolve(result);
    });
  }

  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.inTurn(() => this.direct.all<T>(sql, params));
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      this.prepare('BEGIN IMMEDIATE').run();
      try {
        const result = await work(this.direct);
        this.prepare('COMMIT').run();
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  exclusive<T>(_name: string, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // DDL is transactional in SQLite, and BEGIN IMMEDIATE excludes other writers.
    return this.transaction(work);
  }

  async close(): Promise<void> {
    await this.inTurn(async () => {
      if (!this.db.open) return;
      // Writes still waiting for their group commit go in before the database closes.
      if (this.batch.length) this.flush();
      this.db.close();
      if (--this.turn.users === 0 && sqliteTurns.get(this.file) === this.turn) sqliteTurns.delete(this.file);
    });
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private inTurn<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.turn.tail.then(operation);
    this.turn.tail = next.catch(() => {});
    return next;
  }
}

const MYSQL_RETRYABLE = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);

/** A mysql2 pool; a transaction or lock gets a connection of its own. */
class MysqlConnection implements SqlConnection {
  readonly dialect = mysqlDialect;

  private constructor(private readonly pool: Pool) {}

  static async open(location: Extract<DatabaseLocation, { kind: 'mysql' }>): Promise<MysqlConnection> {
    const mysql = await import('mysql2/promise');
    const options: PoolOptions = {
      host: location.host,
      port: location.port,
      user: location.user,
      password: location.password,
      database: location.database,
      charset: 'utf8mb4',
      connectionLimit: 10,
      // Epoch milliseconds are BIGINT; keep them numbers.
      supportBigNumbers: true,
      bigNumberStrings: false,
    };
    if (location.ssl) options.ssl = { rejectUnauthorized: true, ...(location.ssl.ca ? { ca: readFileSync(location.ssl.ca, 'utf8') } : {}) };
    const pool = mysql.createPool(options);
    // Fail here, with the reason, rather than at the first statement.
    const probe = await pool.getConnection().catch(async (error: unknown) => {
      await pool.end().catch(() => {});
      throw error;
    });
    probe.release();
    return new MysqlConnection(pool);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return runOn(this.pool, sql, params);
  }

  all<T = Record<string, unknown>>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return allOn<T>(this.pool, sql, params);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const connection = await this.pool.getConnection();
      try {
        await connection.beginTransaction();
        const result = await work(executorOn(connection));
        await connection.commit();
        return result;
      } catch (error) {
        await connection.rollback().catch(() => {});
        const errno = (error as { errno?: number }).errno;
        if (attempt >= 3 || errno === undefined || !MYSQL_RETRYABLE.has(errno)) throw error;
      } finally {
        connection.release();
      }
    }
  }

  async exclusive<T>(name: string, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const connection = await this.pool.getConnection();
    try {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [name]);
      if (Number(rows[0]?.['got']) !== 1) throw new Error(`could not take database lock ${name} within 60 s`);
      try {
        return await work(executorOn(connection));
      } finally {
        await connection.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => {});
      }
    } finally {
      connection.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

type Queryable = Pool | PoolConnection;

async function runOn(target: Queryable, sql: string, params: readonly SqlValue[]): Promise<{ changes: number }> {
  const [result] = await target.query<ResultSetHeader>(sql, params as SqlValue[]);
  return { changes: result.affectedRows };
}

async function allOn<T>(target: Queryable, sql: string, params: readonly SqlValue[]): Promise<T[]> {
  const [rows] = await target.query<RowDataPacket[]>(sql, params as SqlValue[]);
  return rows as T[];
}

function executorOn(connection: PoolConnection): SqlExecutor {
  return {
    run: (sql, params = []) => runOn(connection, sql, params),
    all: <T>(sql: string, params: readonly SqlValue[] = []) => allOn<T>(connection, sql, params),
  };
}
