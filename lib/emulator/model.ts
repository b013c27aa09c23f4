/**
 * The objects the emulated platform stores, in the shapes its REST API
 * answers with. Plain data (JSON-safe) so the store can copy them with
 * `structuredClone` and tests can compare them with `deepEqual`.
 */

/** Field input types the platform accepts. */
export const INPUT_TYPES = ['text', 'textarea', 'number', 'boolean', 'select', 'multiselect', 'date', 'datetimepicker'] as const;
/** A field's input type. */
export type InputType = (typeof INPUT_TYPES)[number];

/** Object types an action can be defined on. */
export const OBJECT_TYPES = ['incident', 'task', 'artifact', 'note', 'milestone', 'attachment'] as const;
/** An action's object type. */
export type ObjectType = (typeof OBJECT_TYPES)[number];

/** One choice of a select or multiselect field. `value` is the id stored on objects. */
export interface SelectValue {
  value: number | string;
  label: string;
  enabled: boolean;
  hidden: boolean;
  default: boolean;
}

/** A field of a type (built-in or custom). */
export interface FieldDef {
  id: number;
  name: string;
  /** The label shown in the UI. */
  text: string;
  input_type: InputType;
  required: boolean;
  /** `properties` for custom and action fields (stored under `object.properties`), null for built-ins. */
  prefix: 'properties' | null;
  type_id: number;
  values: SelectValue[];
  tooltip: string;
  placeholder: string;
  internal: boolean;
  /** Optimistic-concurrency version: a PUT that sends one must send the current one. */
  vers: number;
  [extra: string]: unknown;
}

/** A type (`incident`, `actioninvocation`, ...) and its fields, keyed by name. */
export interface TypeDef {
  type_id: number;
  type_name: string;
  display_name: string;
  fields: Record<string, FieldDef>;
}

/** A platform user (the one who invokes actions, or one who logs in). */
export interface User {
  id: number;
  email: string;
  fname: string;
  lname: string;
}

/** An incident. Unknown properties sent by clients are kept. */
export interface Incident {
  id: number;
  name: string;
  description: string | null;
  /** ms since the epoch, as the platform sends dates. */
  discovered_date: number;
  create_date: number;
  inc_last_modified_date: number;
  severity_code: number | null;
  plan_status: string;
  /** Optimistic-concurrency version: a PUT must carry the current one. */
  vers: number;
  /** Custom field values, by field name. */
  properties: Record<string, unknown>;
  inc_training: boolean;
  org_id: number;
  [extra: string]: unknown;
}

/** The file behind an attachment-type artifact (the bytes are served by `.../contents`). */
export interface ArtifactAttachment {
  name: string;
  content_type: string;
  /** Size in bytes. */
  size: number;
  /** Hex SHA-256 of the content, as the platform shows a file's hash. */
  sha256: string;
}

/**
 * An artifact (indicator) of an incident. `type` is the id of a value of the
 * `artifact` type's `type` select field (see `ARTIFACT_TYPES` in seed.ts).
 */
export interface Artifact {
  id: number;
  type: number;
  value: string;
  description: string | null;
  inc_id: number;
  created: number;
  last_modified_time: number;
  creator_id: number | null;
  /** Set for attachment types (a malware sample, an email attachment...), null otherwise. */
  attachment: ArtifactAttachment | null;
  properties: Record<string, unknown>;
  [extra: string]: unknown;
}

/** A task of an incident (minimal: enough to invoke an action on one). */
export interface Task {
  id: number;
  name: string;
  instructions: string | null;
  inc_id: number;
  /** `O` open, `C` closed. */
  status: 'O' | 'C';
  active: boolean;
  due_date: number | null;
  owner_id: number | null;
  create_date: number;
  [extra: string]: unknown;
}

/** A note (comment) on an incident. */
export interface Note {
  id: number;
  text: string;
  create_date: number;
  user_id: number | null;
  inc_id: number;
  parent_id: number | null;
}

/** A message destination: the queue (or topic) actions are sent to. */
export interface MessageDestination {
  id: number;
  name: string;
  programmatic_name: string;
  /** 0 queue, 1 topic. */
  destination_type: 0 | 1;
  /** When true, invocations stay pending until a complete reply arrives. */
  expect_ack: boolean;
  /** Emails of users allowed to read it. */
  users: string[];
  /** Ids of API keys allowed to read it. */
  api_keys: string[];
  uuid: string;
  /** Optimistic-concurrency version: a PUT that sends one must send the current one. */
  vers: number;
}

/**
 * A condition of an action (`field_name` `method` `value`). Select values are
 * stored as ids, whatever the request named them by; `field_name` is null
 * for `object_added` / `object_removed`.
 */
export interface ActionCondition {
  field_name: string | null;
  method: string;
  value?: unknown;
  type?: string | null;
  evaluation_id?: number | null;
}

/** One element of a manual action's layout. `content` is the field name for `element: 'field'`. */
export interface ViewItem {
  element: 'field' | 'header' | 'html';
  field_type: string | null;
  content: string;
  show_if: unknown;
  show_link_header: boolean;
}

/** A rule or menu item ("action") that sends messages to destinations. */
export interface Action {
  id: number;
  name: string;
  programmatic_name?: string;
  /** 0 automatic, 1 manual. */
  type: 0 | 1;
  object_type: ObjectType;
  enabled: boolean;
  logic_type: 'all' | 'any';
  conditions: ActionCondition[];
  automations: unknown[];
  /** Programmatic names of the destinations it sends to. */
  message_destinations: string[];
  view_items: ViewItem[];
  timeout_seconds: number;
  uuid: string;
  /** Optimistic-concurrency version: a PUT that sends one must send the current one. */
  vers: number;
}

/** The organisation the emulator serves. */
export interface Org {
  id: number;
  name: string;
}
