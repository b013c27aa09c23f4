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
}

/** A condition of an action (`field_name` `method` `value`). */
export interface ActionCondition {
  field_name: string;
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
}

/** The organisation the emulator serves. */
export interface Org {
  id: number;
  name: string;
}
