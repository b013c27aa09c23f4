import type {
  Action,
  FieldDef,
  Incident,
  InputType,
  MessageDestination,
  Note,
  Org,
  SelectValue,
  TypeDef,
  User,
  ViewItem,
} from './model.js';

/** Everything the emulator starts from. */
export interface SeedData {
  org: Org;
  /** Platform users; the first one is who invokes actions from the emulated UI. */
  users: User[];
  /** Types by name (`incident`, `actioninvocation`, ...). */
  types: Record<string, TypeDef>;
  incidents: Incident[];
  notes: Note[];
  destinations: MessageDestination[];
  actions: Action[];
}

/** Ids of the seeded objects, so tests do not hard-code magic numbers. */
export const SEED_IDS = {
  incidents: { suspiciousLogin: 2095, phishingReport: 2096 },
  actions: { echo: 11, addNote: 12, setSeverity: 13 },
  destinations: { incidentOps: 1 },
  users: { admin: 1 },
  types: { incident: 0, task: 1, note: 2, milestone: 3, artifact: 4, attachment: 5, actioninvocation: 6 },
} as const;

/** Severity choices shared by the incident's `severity_code` and the `severity` action field. */
const SEVERITIES: [number, string][] = [
  [4, 'Low'],
  [5, 'Medium'],
  [6, 'High'],
];

// Fixed dates keep seeded objects byte-identical between runs.
const SEEDED_AT = Date.UTC(2024, 0, 15, 9, 30);

/**
 * The emulator's known starting state for organisation `orgId` ("Emulated
 * Org"): the incident type with a `severity_code` select (4 Low, 5 Medium,
 * 6 High); incidents 2095 "Suspicious login" (severity 4, vers 1) and 2096
 * "Phishing report"; required action fields `note_text` and `severity`; the queue
 * destination `incident_ops` (expects acks); and the manual incident actions
 * "Echo" (11), "Add Note" (12, layout `note_text`) and "Set Severity" (13,
 * layout `severity`), all sending to `incident_ops`.
 *
 * Returns fresh objects on every call, so a test may change them freely.
 *
 * @example
 * const data = seed(201);
 * data.incidents.find((i) => i.id === SEED_IDS.incidents.suspiciousLogin)?.vers; // 1
 */
export function seed(orgId = 201): SeedData {
  const types: Record<string, TypeDef> = {
    incident: type(SEED_IDS.types.incident, 'incident', 'Incident', [
      field(1, 'name', 'Name', 'text', { required: true }),
      field(2, 'description', 'Description', 'textarea'),
      field(3, 'discovered_date', 'Date Discovered', 'datetimepicker', { required: true }),
      field(4, 'severity_code', 'Severity', 'select', { values: SEVERITIES }),
      field(5, 'plan_status', 'Status', 'select', { values: [['A', 'Active'], ['C', 'Closed']] }),
      field(6, 'inc_training', 'Training', 'boolean'),
    ]),
    task: type(SEED_IDS.types.task, 'task', 'Task', [
      field(11, 'name', 'Name', 'text', { required: true }),
      field(12, 'instructions', 'Instructions', 'textarea'),
    ]),
    note: type(SEED_IDS.types.note, 'note', 'Note', [field(21, 'text', 'Text', 'textarea', { required: true })]),
    milestone: type(SEED_IDS.types.milestone, 'milestone', 'Milestone', [
      field(31, 'title', 'Title', 'text', { required: true }),
      field(32, 'date', 'Date', 'datetimepicker'),
    ]),
    artifact: type(SEED_IDS.types.artifact, 'artifact', 'Artifact', [
      field(41, 'value', 'Value', 'text', { required: true }),
      field(42, 'description', 'Description', 'textarea'),
    ]),
    attachment: type(SEED_IDS.types.attachment, 'attachment', 'Attachment', [field(51, 'name', 'Name', 'text')]),
    actioninvocation: type(SEED_IDS.types.actioninvocation, 'actioninvocation', 'Action Invocation', [
      field(101, 'note_text', 'Note text', 'textarea', { prefix: 'properties', required: true }),
      field(102, 'severity', 'Severity', 'select', { prefix: 'properties', required: true, values: SEVERITIES }),
    ]),
  };
  for (const t of Object.values(types)) for (const f of Object.values(t.fields)) f.type_id = t.type_id;

  return {
    org: { id: orgId, name: 'Emulated Org' },
    users: [{ id: SEED_IDS.users.admin, email: 'admin@example.com', fname: 'Emulated', lname: 'Admin' }],
    types,
    incidents: [
      incident(orgId, SEED_IDS.incidents.suspiciousLogin, 'Suspicious login', 'Repeated failed logins followed by a success from a new country.', 4),
      incident(orgId, SEED_IDS.incidents.phishingReport, 'Phishing report', 'A user reported a suspicious email asking for credentials.', 5),
    ],
    notes: [],
    destinations: [
      {
        id: SEED_IDS.destinations.incidentOps,
        name: 'Incident Ops',
        programmatic_name: 'incident_ops',
        destination_type: 0,
        expect_ack: true,
        users: [],
        api_keys: [],
        uuid: seedUuid(0xd, SEED_IDS.destinations.incidentOps),
      },
    ],
    actions: [
      manualAction(SEED_IDS.actions.echo, 'Echo', []),
      manualAction(SEED_IDS.actions.addNote, 'Add Note', ['note_text']),
      manualAction(SEED_IDS.actions.setSeverity, 'Set Severity', ['severity']),
    ],
  };
}

function type(typeId: number, name: string, displayName: string, fields: FieldDef[]): TypeDef {
  return { type_id: typeId, type_name: name, display_name: displayName, fields: Object.fromEntries(fields.map((f) => [f.name, f])) };
}

function field(
  id: number,
  name: string,
  text: string,
  inputType: InputType,
  extra: { required?: boolean; prefix?: 'properties'; values?: [number | string, string][] } = {},
): FieldDef {
  const values: SelectValue[] = (extra.values ?? []).map(([value, label]) => ({ value, label, enabled: true, hidden: false, default: false }));
  return {
    id,
    name,
    text,
    input_type: inputType,
    required: extra.required ?? false,
    prefix: extra.prefix ?? null,
    type_id: 0,
    values,
    tooltip: '',
    placeholder: '',
    internal: extra.prefix === undefined,
  };
}

function incident(orgId: number, id: number, name: string, description: string, severity: number): Incident {
  return {
    id,
    name,
    description,
    discovered_date: SEEDED_AT,
    create_date: SEEDED_AT,
    inc_last_modified_date: SEEDED_AT,
    severity_code: severity,
    plan_status: 'A',
    vers: 1,
    properties: {},
    inc_training: false,
    org_id: orgId,
  };
}

function manualAction(id: number, name: string, fields: string[]): Action {
  const viewItems: ViewItem[] = fields.map((f) => ({ element: 'field', field_type: 'actioninvocation', content: f, show_if: null, show_link_header: false }));
  return {
    id,
    name,
    type: 1,
    object_type: 'incident',
    enabled: true,
    logic_type: 'all',
    conditions: [],
    automations: [],
    message_destinations: ['incident_ops'],
    view_items: viewItems,
    timeout_seconds: 86400,
    uuid: seedUuid(0xa, id),
  };
}

/** A stable, well-formed v4-shaped UUID for a seeded object. */
function seedUuid(kind: number, id: number): string {
  return `00000000-0000-4000-8000-${kind.toString(16).padStart(4, '0')}${id.toString(16).padStart(8, '0')}`;
}
