import type { ActionDataInput } from '../wire/action-data.js';
import { ARTIFACT_TYPES as EMULATOR_ARTIFACT_TYPES, SEED_IDS } from '../emulator/seed.js';

/** Severity choices the platform ships with. */
export const SEVERITIES: Record<number, string> = { 4: 'Low', 5: 'Medium', 6: 'High' };

/** Artifact types by id, the emulator's (the platform's) table. Handlers should compare labels (`ctx.label('artifact', 'type', id)`), not ids. */
export const ARTIFACT_TYPES: Record<number, string> = Object.fromEntries(EMULATOR_ARTIFACT_TYPES.map((t) => [t.id, t.name]));

type Obj = Record<string, unknown>;
let nextId = 1000;

function idOf(table: Record<number, string>, value: number | string, what: string): number {
  if (typeof value === 'number') return value;
  const found = Object.entries(table).find(([, label]) => label === value);
  if (!found) throw new Error(`${what} "${value}" is not one of ${Object.values(table).join(', ')}`);
  return Number(found[0]);
}

function selectInfo(table: Record<string | number, string>): { values: Record<string, { label: string; value: number | string; enabled: boolean }> } {
  return { values: Object.fromEntries(Object.entries(table).map(([id, label]) => [id, { label, value: Number.isNaN(Number(id)) ? id : Number(id), enabled: true }])) };
}

/** An incident as the platform sends it; severity may be given as a label. */
export function incident(overrides: Obj & { severity?: string | number } = {}): Obj & { id: number } {
  const { severity, ...rest } = overrides;
  return {
    id: 2095,
    name: 'Suspicious login',
    description: '',
    discovered_date: Date.UTC(2024, 0, 15),
    severity_code: severity === undefined ? 4 : idOf(SEVERITIES, severity, 'severity'),
    plan_status: 'A',
    vers: 1,
    properties: {},
    ...rest,
  };
}

/** An artifact; `type` may be a label ("IP Address") or an id. */
export function artifact(overrides: Obj & { type?: string | number; value?: string } = {}): Obj & { id: number } {
  const { type = 'IP Address', ...rest } = overrides;
  return { id: nextId++, type: idOf(ARTIFACT_TYPES, type, 'artifact type'), value: '10.1.2.3', description: null, inc_id: 2095, ...rest };
}

/** A note (incident comment). */
export function note(overrides: Obj = {}): Obj & { id: number } {
  return { id: nextId++, text: 'A note', inc_id: 2095, create_date: Date.UTC(2024, 0, 15), ...overrides };
}

/** A task. */
export function task(overrides: Obj = {}): Obj & { id: number } {
  return { id: nextId++, name: 'Disable compromised accounts', inc_id: 2095, status: 'O', ...overrides };
}

/** Options of {@link message}. */
export interface MessageOptions {
  incident?: Obj & { id: number };
  artifact?: Obj & { id: number };
  note?: Obj & { id: number };
  task?: Obj & { id: number };
  /** Action field values; a select field's value may be its label when its choices are in `selects`. */
  properties?: Obj;
  /**
   * Choices of select action fields, by field name: labels (ids are then
   * numbered from 100) or the platform's own ids, `{ severity: { 4: 'Low', 6: 'High' } }`.
   */
  selects?: Record<string, string[] | Record<number, string>>;
  action_id?: number;
  user?: Obj;
}

/**
 * An ActionDataDTO with `type_info` for the incident's severity, artifact
 * types and the select action fields, so `ctx.label()` works as on the platform.
 *
 * @example
 * message({ artifact: artifact({ type: 'DNS Name', value: 'evil.example.com' }) });
 * message({ note: note(), properties: { priority: 'High' }, selects: { priority: ['Low', 'Medium', 'High', 'Critical'] } });
 */
export function message(options: MessageOptions = {}): ActionDataInput {
  const selectFields: Record<string, { values: ReturnType<typeof selectInfo>['values'] }> = {};
  const properties: Obj = { ...options.properties };
  for (const [field, labels] of Object.entries(options.selects ?? {})) {
    const table: Record<number, string> = Array.isArray(labels) ? Object.fromEntries(labels.map((label, i) => [100 + i, label])) : labels;
    selectFields[field] = selectInfo(table);
    const given = properties[field];
    if (typeof given === 'string') properties[field] = idOf(table, given, `action field ${field}`);
  }
  return {
    action_id: options.action_id ?? 0,
    type_id: options.artifact ? SEED_IDS.types.artifact : options.note ? SEED_IDS.types.note : options.task ? SEED_IDS.types.task : SEED_IDS.types.incident,
    incident: options.incident ?? incident(),
    artifact: options.artifact ?? null,
    note: options.note ?? null,
    task: options.task ?? null,
    milestone: null,
    attachment: null,
    properties,
    user: options.user ?? { id: 1, email: 'analyst@example.com', fname: 'Ana', lname: 'Lyst' },
    type_info: {
      incident: { fields: { severity_code: selectInfo(SEVERITIES) } },
      artifact: { fields: { type: selectInfo(ARTIFACT_TYPES) } },
      actioninvocation: { fields: selectFields },
    },
  };
}
