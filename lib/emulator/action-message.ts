import { ActionDataSchema, type ActionDataInput } from '../wire/action-data.js';
import type { Action, FieldDef, Incident, ObjectType, TypeDef, User } from './model.js';
import type { EmulatorStore } from './store.js';

/** What goes into one action message. */
export interface ActionMessageInput {
  action: Action;
  incident: Incident;
  objectType: ObjectType;
  objectId: number;
  /** Action field values, already converted to ids. */
  properties: Record<string, unknown>;
  user: User;
}

/** A field as `type_info` describes it: select values keyed by their id. */
// A type alias, not an interface: the wire schema's records need an implicit index signature.
export type WireFieldInfo = {
  id: number;
  name: string;
  text: string;
  input_type: string;
  prefix: string | null;
  required: boolean;
  values: Record<string, { label: string; value: number | string; enabled: boolean; hidden: boolean; default: boolean }>;
};

/**
 * Builds the body of an action message (the platform's ActionDataDTO) the way
 * the platform does: the incident in full, the invoked object (a note,
 * artifact or task in full), the action field values as ids, and `type_info`
 * (incident, actioninvocation and the object's type) so processors can turn
 * ids into labels, e.g. an artifact's `type` into "IP Address".
 * The result is checked against {@link ActionDataSchema}, so the emulator can
 * never send a message cafkit's own reader would refuse.
 *
 * @example
 * const body = buildActionData(store, { action, incident, objectType: 'incident', objectId: 2095, properties: {}, user });
 */
export function buildActionData(store: EmulatorStore, input: ActionMessageInput): ActionDataInput {
  const { action, incident, objectType, objectId, properties, user } = input;
  const objectTypeDef = store.type(objectType);
  const typeNames = new Set<string>(['incident', 'actioninvocation', objectType]);
  const typeInfo: Record<string, { fields: Record<string, WireFieldInfo> }> = {};
  for (const name of typeNames) typeInfo[name] = wireTypeInfo(store.type(name));

  const body: ActionDataInput = {
    action_id: action.id,
    type_id: objectTypeDef.type_id,
    incident,
    task: null,
    artifact: null,
    note: null,
    milestone: null,
    attachment: null,
    type_info: typeInfo,
    properties,
    user: { id: user.id, email: user.email, fname: user.fname, lname: user.lname },
  };
  // Notes, artifacts and tasks are sent in full, as stored; milestones and
  // attachments are not stored, so they are described by their id (and incident).
  const stored = store.objectOf(objectType, objectId, incident.id);
  if (stored) body[objectType] = stored.object as { id: number };
  else if (objectType !== 'incident') body[objectType] = { id: objectId, inc_id: incident.id };

  ActionDataSchema.parse(body);
  return body;
}

/** A type in `type_info` form: `{fields: {<name>: {..., values: {"<id>": {label, ...}}}}}`. */
export function wireTypeInfo(type: TypeDef): { fields: Record<string, WireFieldInfo> } {
  return { fields: Object.fromEntries(Object.values(type.fields).map((f) => [f.name, wireField(f)])) };
}

function wireField(field: FieldDef): WireFieldInfo {
  return {
    id: field.id,
    name: field.name,
    text: field.text,
    input_type: field.input_type,
    prefix: field.prefix,
    required: field.required,
    values: Object.fromEntries(
      field.values.map((v) => [String(v.value), { label: v.label, value: v.value, enabled: v.enabled, hidden: v.hidden, default: v.default }]),
    ),
  };
}
