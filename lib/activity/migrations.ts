import { openSqlConnection, type SqlConnection, type SqlDialect, type TableSpec } from './sql-dialect.js';

/** One step of the schema: applied once per database, in version order, and recorded. */
export interface Migration {
  version: number;
  description: string;
  /** The statements, in the database's dialect. */
  up(dialect: SqlDialect): string[];
}

/** The table recording which migrations a database has had. */
export const MIGRATIONS_TABLE = 'cafkit_schema_migrations';

const migrationsTable: TableSpec = {
  name: MIGRATIONS_TABLE,
  columns: [
    { name: 'version', type: { kind: 'integer' } },
    { name: 'applied_at', type: { kind: 'string', length: 40 } },
  ],
  primaryKey: ['version'],
};

const id = { kind: 'string', length: 64 } as const;
const name = { kind: 'string', length: 255 } as const;
const time = { kind: 'string', length: 40 } as const;
const integer = { kind: 'integer' } as const;
const text = { kind: 'text' } as const;

/**
 * Signed activity records. The columns besides `record` are copies for
 * querying; `record` holds the record's canonical JSON exactly as stored, so
 * verification checks the bytes that were signed. Timestamps are ISO 8601
 * UTC strings, which sort as they read.
 */
const activities: TableSpec = {
  name: 'activities',
  columns: [
    { name: 'id', type: id },
    { name: 'execution_id', type: id },
    { name: 'chain_id', type: id },
    { name: 'seq', type: integer },
    { name: 'correlation_id', type: name, nullable: true },
    { name: 'org_id', type: integer },
    { name: 'destination', type: name },
    { name: 'action_name', type: name, nullable: true },
    { name: 'status', type: { kind: 'string', length: 32 } },
    { name: 'received_at', type: time },
    { name: 'ended_at', type: time, nullable: true },
    { name: 'key_id', type: id },
    { name: 'record', type: text },
  ],
  primaryKey: ['id'],
  unique: [{ name: 'activities_chain_seq', columns: ['chain_id', 'seq'] }],
  indexes: [
    { name: 'activities_correlation_id', columns: ['correlation_id'] },
    { name: 'activities_execution_id', columns: ['execution_id'] },
    { name: 'activities_status', columns: ['status'] },
    { name: 'activities_received_at', columns: ['received_at'] },
  ],
};

/**
 * Final replies by `<destination>|<correlation id>`, and claims on
 * invocations being run (`status` `running`, `owner` holding it until
 * `lease_until`, epoch ms) so that instances sharing the database run each
 * invocation once.
 */
const completedReplies: TableSpec = {
  name: 'completed_replies',
  columns: [
    { name: 'key', type: { kind: 'string', length: 512 } },
    { name: 'status', type: { kind: 'string', length: 16 } },
    { name: 'reply', type: text, nullable: true },
    { name: 'reply_to', type: name, nullable: true },
    { name: 'correlation_id', type: name, nullable: true },
    { name: 'completed_at', type: integer, nullable: true },
    { name: 'owner', type: name, nullable: true },
    { name: 'claimed_at', type: integer, nullable: true },
    { name: 'lease_until', type: integer, nullable: true },
  ],
  primaryKey: ['key'],
  indexes: [{ name: 'completed_replies_completed_at', columns: ['completed_at'] }],
};

/** The schema's history; append new versions, never change applied ones. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'activities and completed_replies',
    up: (dialect) => [...dialect.createTable(activities), ...dialect.createTable(completedReplies)],
  },
  {
    version: 2,
    description: 'activities.incident_id and activities.processor, for the operator API filters',
    up: (dialect) => queryColumns(dialect),
  },
];

/**
 * Version 2: `incident_id` (the record's `object_ids.incident`) and
 * `processor` (`processor.name`) as columns, so `GET /executions` filters
 * and pages in SQL; existing rows are filled from their record JSON.
 * JSON_EXTRACT is in both SQLite (3.38+, and better-sqlite3's build) and
 * MariaDB; MariaDB returns JSON text (a quoted string, or `null`), hence the
 * unquoting there.
 */
function queryColumns(dialect: SqlDialect): string[] {
  const incident = "JSON_EXTRACT(`record`, '$.object_ids.incident')";
  if (dialect.name === 'sqlite') {
    return [
      'ALTER TABLE `activities` ADD COLUMN `incident_id` INTEGER',
      'ALTER TABLE `activities` ADD COLUMN `processor` TEXT',
      `UPDATE \`activities\` SET \`incident_id\` = ${incident}, \`processor\` = JSON_EXTRACT(\`record\`, '$.processor.name')`,
      'CREATE INDEX IF NOT EXISTS `activities_incident_id` ON `activities` (`incident_id`)',
    ];
  }
  return [
    'ALTER TABLE `activities` ADD COLUMN `incident_id` BIGINT NULL, ADD COLUMN `processor` VARCHAR(255) NULL, ADD KEY `activities_incident_id` (`incident_id`)',
    `UPDATE \`activities\` SET \`incident_id\` = ${incident}, \`processor\` = JSON_UNQUOTE(NULLIF(JSON_EXTRACT(\`record\`, '$.processor.name'), 'null'))`,
  ];
}

/**
 * Brings the database up to the latest version: applies each migration not
 * yet recorded in `cafkit_schema_migrations`, in order, under a lock that
 * excludes other processes migrating the same database. Safe to run at
 * every start. Resolves to the versions applied now (empty when up to date).
 *
 * @example
 * const connection = await openSqlConnection('sqlite:/var/lib/cafkit/activities.db');
 * await migrate(connection); // [1] the first time, [] afterwards
 */
export async function migrate(connection: SqlConnection, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const dialect = connection.dialect;
  return connection.exclusive(MIGRATIONS_TABLE, async (tx) => {
    for (const statement of dialect.createTable(migrationsTable)) await tx.run(statement);
    const rows = await tx.all<{ version: number | string }>(`SELECT version FROM ${MIGRATIONS_TABLE}`);
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.up(dialect)) await tx.run(statement);
      await tx.run(`INSERT INTO ${MIGRATIONS_TABLE} (version, applied_at) VALUES (?, ?)`, [migration.version, new Date().toISOString()]);
      applied.push(migration.version);
    }
    return applied;
  });
}

/** Opens the database a URL names and brings its schema up to date; the connection is closed again if that fails. */
export async function openMigrated(url: string): Promise<SqlConnection> {
  const connection = await openSqlConnection(url);
  try {
    await migrate(connection);
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  return connection;
}
