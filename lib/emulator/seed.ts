import { createHash } from 'node:crypto';
import type {
  Action,
  Artifact,
  FieldDef,
  Incident,
  InputType,
  MessageDestination,
  Note,
  Org,
  SelectValue,
  Task,
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
  artifacts: Artifact[];
  /** File contents of attachment artifacts, base64, by artifact id. */
  artifactContents: Record<string, string>;
  tasks: Task[];
  destinations: MessageDestination[];
  actions: Action[];
}

/** One artifact type: its id (the value of the artifact's `type`), its label, and whether it holds a file. */
export interface ArtifactTypeInfo {
  id: number;
  name: string;
  /** Attachment types: created with `POST .../artifacts/files`, their bytes served by `.../contents`. */
  file: boolean;
}

/**
 * The artifact types the emulator knows, with the platform's own ids (as the
 * platform's `artifact` type lists them in its `type` select field; the gaps
 * are platform types the emulator leaves out). The `file` ones are attachment
 * types: they carry file content and are created through
 * `POST /incidents/{id}/artifacts/files`.
 *
 * | id | name | file |
 * | --- | --- | --- |
 * | 1 | IP Address | |
 * | 2 | DNS Name | |
 * | 3 | URL | |
 * | 4 | RFC 822 Email Message File | yes |
 * | 5 | Email Subject | |
 * | 6 | Email Body | |
 * | 7 | Email Attachment | yes |
 * | 8 | Email Attachment Name | |
 * | 9 | Email Sender | |
 * | 12 | Malware Sample | yes |
 * | 13 | Malware MD5 Hash | |
 * | 14 | Malware SHA-1 Hash | |
 * | 15 | Log File | yes |
 * | 16 | Other File | yes |
 * | 19 | Email Sender Name | |
 * | 20 | Email Recipient | |
 * | 23 | User Account | |
 */
export const ARTIFACT_TYPES: readonly ArtifactTypeInfo[] = [
  { id: 1, name: 'IP Address', file: false },
  { id: 2, name: 'DNS Name', file: false },
  { id: 3, name: 'URL', file: false },
  { id: 4, name: 'RFC 822 Email Message File', file: true },
  { id: 5, name: 'Email Subject', file: false },
  { id: 6, name: 'Email Body', file: false },
  { id: 7, name: 'Email Attachment', file: true },
  { id: 8, name: 'Email Attachment Name', file: false },
  { id: 9, name: 'Email Sender', file: false },
  { id: 12, name: 'Malware Sample', file: true },
  { id: 13, name: 'Malware MD5 Hash', file: false },
  { id: 14, name: 'Malware SHA-1 Hash', file: false },
  { id: 15, name: 'Log File', file: true },
  { id: 16, name: 'Other File', file: true },
  { id: 19, name: 'Email Sender Name', file: false },
  { id: 20, name: 'Email Recipient', file: false },
  { id: 23, name: 'User Account', file: false },
];

/** Artifact type ids by what they are, so tests do not hard-code magic numbers. */
export const ARTIFACT_TYPE_IDS = {
  ipAddress: 1,
  dnsName: 2,
  url: 3,
  emailMessageFile: 4,
  emailAttachment: 7,
  emailSender: 9,
  malwareSample: 12,
  logFile: 15,
  otherFile: 16,
  emailRecipient: 20,
  userAccount: 23,
} as const;

/** The bytes of the seeded `sample.exe` (the start of a DOS/PE header). */
export const SEED_SAMPLE_BYTES: Buffer = Buffer.from('4d5a90000300000004000000ffff0000b800000000000000', 'hex');

/** Ids of the seeded objects, so tests do not hard-code magic numbers. */
export const SEED_IDS = {
  incidents: { suspiciousLogin: 2095, phishingReport: 2096 },
  actions: { echo: 11, addNote: 12, setSeverity: 13 },
  destinations: { incidentOps: 1 },
  artifacts: { ip: 1, dns: 2, sample: 3 },
  tasks: { disableAccounts: 1 },
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
 * 6 High); the artifact type with its `type` select ({@link ARTIFACT_TYPES});
 * incidents 2095 "Suspicious login" (severity 4, vers 1) and 2096
 * "Phishing report"; on 2095 the artifacts 1 (IP Address 10.1.2.3), 2 (DNS
 * Name evil.example.com) and 3 (Malware Sample `sample.exe`, a few bytes) and
 * the task 1 "Disable compromised user accounts"; required action fields
 * `note_text` and `severity`; the queue destination `incident_ops` (expects
 * acks); and the manual incident actions "Echo" (11), "Add Note" (12, layout
 * `note_text`) and "Set Severity" (13, layout `severity`), all sending to
 * `incident_ops`.
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
      field(43, 'type', 'Type', 'select', { required: true, values: ARTIFACT_TYPES.map((t) => [t.id, t.name]) }),
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
    artifacts: [
      artifact(SEED_IDS.artifacts.ip, ARTIFACT_TYPE_IDS.ipAddress, '10.1.2.3', 'Source of the successful login'),
      artifact(SEED_IDS.artifacts.dns, ARTIFACT_TYPE_IDS.dnsName, 'evil.example.com', 'Resolves to the login source'),
      {
        ...artifact(SEED_IDS.artifacts.sample, ARTIFACT_TYPE_IDS.malwareSample, 'sample.exe', 'Found on the user\'s desktop'),
        attachment: {
          name: 'sample.exe',
          content_type: 'application/octet-stream',
          size: SEED_SAMPLE_BYTES.length,
          sha256: createHash('sha256').update(SEED_SAMPLE_BYTES).digest('hex'),
        },
      },
    ],
    artifactContents: { [String(SEED_IDS.artifacts.sample)]: SEED_SAMPLE_BYTES.toString('base64') },
    tasks: [
      {
        id: SEED_IDS.tasks.disableAccounts,
        name: 'Disable compromised user accounts',
        instructions: 'You should disable any compromised user accounts.',
        inc_id: SEED_IDS.incidents.suspiciousLogin,
        status: 'O',
        active: true,
        due_date: null,
        owner_id: null,
        create_date: SEEDED_AT,
      },
    ],
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
        vers: 1,
      },
    ],
    actions: [
      manualAction(SEED_IDS.actions.echo, 'Echo', []),
      manualAction(SEED_IDS.actions.addNote, 'Add Note', ['note_text']),
      manualAction(SEED_IDS.actions.setSeverity, 'Set Severity', ['severity']),
    ],
  };
}

/**
 * The seed without anything `cafkit install` creates: no message
 * destinations, no action fields, no actions. Incidents, artifacts, tasks and
 * the built-in types are as in {@link seed}. For testing an installation on
 * a fresh platform.
 *
 * @example
 * const emu = await startEmulator({ seed: emptySeed(201), tls, apiKeys });
 */
export function emptySeed(orgId = 201): SeedData {
  const data = seed(orgId);
  data.destinations = [];
  data.actions = [];
  data.types['actioninvocation']!.fields = {};
  return data;
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
    vers: 1,
  };
}

function artifact(id: number, typeId: number, value: string, description: string): Artifact {
  return {
    id,
    type: typeId,
    value,
    description,
    inc_id: SEED_IDS.incidents.suspiciousLogin,
    created: SEEDED_AT,
    last_modified_time: SEEDED_AT,
    creator_id: SEED_IDS.users.admin,
    attachment: null,
    properties: {},
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
    vers: 1,
  };
}

/** A stable, well-formed v4-shaped UUID for a seeded object. */
function seedUuid(kind: number, id: number): string {
  return `00000000-0000-4000-8000-${kind.toString(16).padStart(4, '0')}${id.toString(16).padStart(8, '0')}`;
}
