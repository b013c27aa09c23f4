import { ActivityRecordSchema, type ActivityRecord, type ActivityStatus } from './record.js';
import type { SqlExecutor, SqlValue } from './sql-dialect.js';

/** What to select from the `activities` table; every field present narrows the result. */
export interface ExecutionRecordFilter {
  /** Any of these statuses. */
  statuses?: readonly ActivityStatus[];
  destination?: string;
  /** The action's name. */
  action?: string;
  /** The processor's name. */
  processor?: string;
  /** `object_ids.incident`. */
  incident?: number;
  /** `received_at >= since` (ISO 8601 UTC with milliseconds, as the records hold it). */
  since?: string;
  /** `received_at < until` (exclusive, so consecutive windows do not overlap). */
  until?: string;
}

/**
 * The newest record of each execution that matches `filter`, newest
 * execution first (execution ids are UUID v7, so their order is their
 * arrival order), starting below `before` (an execution id, exclusive), at
 * most `limit` of them.
 *
 * An execution re-run after a crash can have several records; only its
 * newest (the greatest record id, also UUID v7) counts, and the filter
 * applies to that one, so an execution never shows with a status it no
 * longer has.
 *
 * @example
 * const page = await queryExecutionRecords(store.connection, { statuses: ['failed'], incident: 2095 }, undefined, 50);
 * const next = await queryExecutionRecords(store.connection, { statuses: ['failed'], incident: 2095 }, page.at(-1)?.execution_id, 50);
 */
export async function queryExecutionRecords(db: SqlExecutor, filter: ExecutionRecordFilter, before: string | undefined, limit: number): Promise<ActivityRecord[]> {
  const { where, params } = conditions(filter);
  if (before !== undefined) {
    where.push('a.`execution_id` < ?');
    params.push(before);
  }
  // The NOT EXISTS in the conditions leaves one row per execution, so LIMIT counts executions.
  // LIMIT is bound, not spliced: SQLite prepares (and caches) one statement per distinct text.
  const rows = await db.all<Row>(
    `SELECT a.\`id\`, a.\`execution_id\`, a.\`record\` FROM \`activities\` a WHERE ${where.join(' AND ')} ORDER BY a.\`execution_id\` DESC LIMIT ?`,
    [...params, Math.max(0, Math.floor(limit))],
  );
  return rows.map(parseRow);
}

/**
 * The newest record of one execution, or `undefined`.
 *
 * @example
 * const record = await findExecutionRecord(store.connection, '0190a6f2-…');
 */
export async function findExecutionRecord(db: SqlExecutor, executionId: string): Promise<ActivityRecord | undefined> {
  const rows = await db.all<Row>('SELECT `id`, `execution_id`, `record` FROM `activities` WHERE `execution_id` = ? ORDER BY `id` DESC LIMIT 1', [executionId]);
  return rows[0] ? parseRow(rows[0]) : undefined;
}

function conditions(filter: ExecutionRecordFilter): { where: string[]; params: SqlValue[] } {
  // Only the newest record of each execution: no later record of the same execution exists.
  const where = ['NOT EXISTS (SELECT 1 FROM `activities` b WHERE b.`execution_id` = a.`execution_id` AND b.`id` > a.`id`)'];
  const params: SqlValue[] = [];
  const add = (sql: string, ...values: SqlValue[]) => {
    where.push(sql);
    params.push(...values);
  };
  if (filter.statuses?.length) add(`a.\`status\` IN (${filter.statuses.map(() => '?').join(', ')})`, ...filter.statuses);
  if (filter.destination !== undefined) add('a.`destination` = ?', filter.destination);
  if (filter.action !== undefined) add('a.`action_name` = ?', filter.action);
  if (filter.processor !== undefined) add('a.`processor` = ?', filter.processor);
  if (filter.incident !== undefined) add('a.`incident_id` = ?', filter.incident);
  if (filter.since !== undefined) add('a.`received_at` >= ?', filter.since);
  if (filter.until !== undefined) add('a.`received_at` < ?', filter.until);
  return { where, params };
}

interface Row {
  id: string;
  execution_id: string;
  record: string;
}

function parseRow(row: Row): ActivityRecord {
  const value: unknown = JSON.parse(row.record);
  const parsed = ActivityRecordSchema.safeParse(value);
  if (!parsed.success) throw new Error(`activity ${row.id}: stored record is not a valid activity record: ${parsed.error.message}`);
  // The stored JSON itself, not the schema's copy: it is what was signed.
  return value as ActivityRecord;
}
