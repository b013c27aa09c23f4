import { z } from 'zod';
import { PROGRAMMATIC_NAME } from '../wire/headers.js';
import { INPUT_TYPES, OBJECT_TYPES } from './model.js';

/*
 * One schema per request body the emulated REST API accepts; the store and
 * the routes take the inferred types. Objects are loose because real clients
 * send more than the emulator reads (the platform ignores or keeps it).
 */

const programmaticName = z.string().regex(PROGRAMMATIC_NAME, { error: 'must contain only letters, digits and underscores' });
const fieldName = z.string().regex(/^[A-Za-z0-9_]+$/, { error: 'must contain only letters, digits and underscores' });
const id = z.number().int().nonnegative();

/** `POST /rest/session`. */
export const SessionLoginSchema = z.looseObject({
  email: z.string().min(1),
  password: z.string(),
});
/** A session login body. */
export type SessionLogin = z.infer<typeof SessionLoginSchema>;

/** Fields an incident body may carry besides the required ones. */
const incidentFields = {
  description: z.union([z.string(), z.looseObject({ format: z.string(), content: z.string() })]).nullish(),
  discovered_date: z.number().int().optional(),
  severity_code: z.union([z.number().int(), z.string()]).nullish(),
  plan_status: z.string().optional(),
  inc_training: z.boolean().optional(),
  properties: z.record(z.string(), z.unknown()).nullish(),
};

/** `POST /rest/orgs/{org}/incidents`. */
export const IncidentCreateSchema = z.looseObject({
  name: z.string().trim().min(1, { error: 'must not be empty' }),
  ...incidentFields,
});
/** A new incident. */
export type IncidentCreate = z.infer<typeof IncidentCreateSchema>;

/** `PUT /rest/orgs/{org}/incidents/{id}`: `vers` is what makes optimistic concurrency work. */
export const IncidentUpdateSchema = z.looseObject({
  vers: z.number().int(),
  id: z.number().int().optional(),
  name: z.string().trim().min(1, { error: 'must not be empty' }).optional(),
  ...incidentFields,
});
/** An incident update. */
export type IncidentUpdate = z.infer<typeof IncidentUpdateSchema>;

/** Rich text as the platform sends it. */
const RichTextSchema = z.looseObject({
  format: z.enum(['text', 'html']),
  content: z.string(),
});

/** `POST /rest/orgs/{org}/incidents/{id}/comments`. */
export const CommentCreateSchema = z.looseObject({
  text: z.union([z.string().min(1, { error: 'must not be empty' }), RichTextSchema]),
  parent_id: z.number().int().nullish(),
});
/** A new comment. */
export type CommentCreate = z.infer<typeof CommentCreateSchema>;

/** One select value in a field body; `value` is assigned when absent. */
export const SelectValueInputSchema = z.looseObject({
  label: z.string().min(1, { error: 'must not be empty' }),
  value: z.union([z.number().int(), z.string().min(1)]).optional(),
  enabled: z.boolean().optional(),
  hidden: z.boolean().optional(),
  default: z.boolean().optional(),
});
/** A select value as sent. */
export type SelectValueInput = z.infer<typeof SelectValueInputSchema>;

// The platform sends `required` as "always" | "close" | null; installers often send a boolean.
const requiredFlag = z.union([z.boolean(), z.enum(['always', 'close']), z.null()]).optional();

/** The fields of an action field, as created and updated. */
const FieldFields = z.looseObject({
  name: fieldName,
  text: z.string().optional(),
  input_type: z.enum(INPUT_TYPES, { error: `must be one of ${INPUT_TYPES.join(', ')}` }),
  required: requiredFlag,
  values: z.array(SelectValueInputSchema).optional(),
  tooltip: z.string().nullish(),
  placeholder: z.string().nullish(),
});

/** `POST /rest/orgs/{org}/types/{type}/fields`. */
export const FieldCreateSchema = FieldFields
  .refine((f) => !isSelect(f.input_type) || (f.values !== undefined && f.values.length > 0), {
    error: 'a select or multiselect field needs at least one value',
    path: ['values'],
  });
/** A new field. */
export type FieldCreate = z.infer<typeof FieldCreateSchema>;

/**
 * `PUT /rest/orgs/{org}/types/{type}/fields/{id}`: what is absent is kept.
 * `vers`, when sent, must be the stored one (else 409); `input_type` cannot
 * change once the field exists.
 */
export const FieldUpdateSchema = FieldFields.partial().extend({
  id: z.number().int().optional(),
  vers: z.number().int().optional(),
});
/** A field update. */
export type FieldUpdate = z.infer<typeof FieldUpdateSchema>;

/** The fields of a message destination, as created and updated. */
const DestinationFields = z.looseObject({
  name: z.string().min(1).optional(),
  programmatic_name: programmaticName.optional(),
  destination_type: z.union([z.literal(0), z.literal(1)], { error: 'must be 0 (queue) or 1 (topic)' }).optional(),
  expect_ack: z.boolean().optional(),
  users: z.array(z.string()).optional(),
  api_keys: z.array(z.string()).optional(),
});

/** `POST /rest/orgs/{org}/message_destinations`. */
export const DestinationCreateSchema = DestinationFields
  .refine((d) => d.name !== undefined || d.programmatic_name !== undefined, {
    error: 'name or programmatic_name is required',
    path: ['programmatic_name'],
  });
/** A new message destination. */
export type DestinationCreate = z.infer<typeof DestinationCreateSchema>;

/**
 * `PUT /rest/orgs/{org}/message_destinations/{id}`: what is absent is kept.
 * The programmatic name cannot change (processors connect with it).
 */
export const DestinationUpdateSchema = DestinationFields.extend({
  id: z.number().int().optional(),
  vers: z.number().int().optional(),
});
/** A message destination update. */
export type DestinationUpdate = z.infer<typeof DestinationUpdateSchema>;

/** Condition methods the platform's rule editor offers. */
export const CONDITION_METHODS = [
  'equals',
  'not_equals',
  'contains',
  'not_contains',
  'changed',
  'changed_to',
  'not_changed_to',
  'object_added',
  'object_removed',
  'has_a_value',
  'not_has_a_value',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'not_in',
  'due_within',
  'overdue_by',
  'has_at_least_one',
  'has_none',
] as const;

/** Condition methods about the object itself, which name no field. */
export const OBJECT_METHODS: readonly string[] = ['object_added', 'object_removed'];

/** One condition of an action; `field_name` may be left out for `object_added` / `object_removed`. */
export const ConditionSchema = z
  .looseObject({
    field_name: z.string().min(1).nullish(),
    method: z.enum(CONDITION_METHODS, { error: `must be one of ${CONDITION_METHODS.join(', ')}` }),
    value: z.unknown().optional(),
    type: z.string().nullish(),
    evaluation_id: z.number().int().nullish(),
  })
  .refine((c) => OBJECT_METHODS.includes(c.method) || (c.field_name !== undefined && c.field_name !== null), {
    error: 'is required for this method',
    path: ['field_name'],
  });
/** A condition as sent. */
export type ConditionInput = z.infer<typeof ConditionSchema>;

/** One layout element of a manual action. */
export const ViewItemInputSchema = z.looseObject({
  element: z.enum(['field', 'header', 'html']).default('field'),
  field_type: z.string().nullish(),
  content: z.string().min(1),
  show_if: z.unknown().optional(),
  show_link_header: z.boolean().optional(),
});
/** A layout element as sent. */
export type ViewItemInput = z.infer<typeof ViewItemInputSchema>;

/** `POST /rest/orgs/{org}/actions`. `fields` is a shorthand for a layout of action fields. */
export const ActionCreateSchema = z.looseObject({
  name: z.string().trim().min(1, { error: 'must not be empty' }),
  programmatic_name: programmaticName.optional(),
  type: z.union([z.literal(0), z.literal(1)], { error: 'must be 0 (automatic) or 1 (manual)' }),
  object_type: z.enum(OBJECT_TYPES, { error: `must be one of ${OBJECT_TYPES.join(', ')}` }),
  enabled: z.boolean().optional(),
  logic_type: z.enum(['all', 'any']).optional(),
  conditions: z.array(ConditionSchema).optional(),
  automations: z.array(z.unknown()).optional(),
  message_destinations: z.array(z.union([z.string(), z.number().int()])).optional(),
  view_items: z.array(ViewItemInputSchema).optional(),
  fields: z.array(z.string()).optional(),
  timeout_seconds: z.number().int().positive().optional(),
});
/** A new action. */
export type ActionCreate = z.infer<typeof ActionCreateSchema>;

/**
 * `PUT /rest/orgs/{org}/actions/{id}`: what is absent is kept. `type`
 * (automatic/manual) and `object_type` cannot change; `view_items` replaces
 * the layout, `fields` alone replaces only its fields.
 */
export const ActionUpdateSchema = ActionCreateSchema.partial().extend({
  id: z.number().int().optional(),
  vers: z.number().int().optional(),
});
/** An action update. */
export type ActionUpdate = z.infer<typeof ActionUpdateSchema>;

/**
 * An artifact type as a request may name it: its id, its name, or an object
 * with either (`{"name": "IP Address"}`, as many integrations send it).
 */
export const ArtifactTypeRefSchema = z.union([
  z.number().int(),
  z.string().min(1),
  z.looseObject({ id: z.number().int().optional(), name: z.string().min(1).optional() }).refine((t) => t.id !== undefined || t.name !== undefined, {
    error: 'needs an id or a name',
  }),
]);
/** An artifact type reference. */
export type ArtifactTypeRef = z.infer<typeof ArtifactTypeRefSchema>;

const artifactDescription = z.union([z.string(), RichTextSchema]).nullish();

/** `POST /rest/orgs/{org}/incidents/{id}/artifacts`: an artifact that is not a file. */
export const ArtifactCreateSchema = z.looseObject({
  type: ArtifactTypeRefSchema,
  value: z.string().trim().min(1, { error: 'must not be empty' }),
  description: artifactDescription,
  properties: z.record(z.string(), z.unknown()).nullish(),
});
/** A new artifact. */
export type ArtifactCreate = z.infer<typeof ArtifactCreateSchema>;

/**
 * `POST /rest/orgs/{org}/incidents/{id}/artifacts/files`: an attachment
 * artifact. The platform takes multipart; the emulator takes JSON with the
 * file name as `value` and the bytes in base64.
 */
export const ArtifactFileCreateSchema = z.looseObject({
  type: ArtifactTypeRefSchema,
  value: z.string().trim().min(1, { error: 'must not be empty (it is the file name)' }),
  content_base64: z
    .string()
    .min(1, { error: 'must not be empty' })
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, { error: 'must be base64' }),
  content_type: z.string().min(1).optional(),
  description: artifactDescription,
  properties: z.record(z.string(), z.unknown()).nullish(),
});
/** A new attachment artifact. */
export type ArtifactFileCreate = z.infer<typeof ArtifactFileCreateSchema>;

/** `PUT /rest/orgs/{org}/incidents/{id}/artifacts/{aid}`: the artifact, changed; what is absent is kept. */
export const ArtifactUpdateSchema = z.looseObject({
  id: z.number().int().optional(),
  type: ArtifactTypeRefSchema.optional(),
  value: z.string().trim().min(1, { error: 'must not be empty' }).optional(),
  description: artifactDescription,
  properties: z.record(z.string(), z.unknown()).nullish(),
});
/** An artifact update. */
export type ArtifactUpdate = z.infer<typeof ArtifactUpdateSchema>;

/** `POST /rest/orgs/{org}/incidents/{id}/tasks`. */
export const TaskCreateSchema = z.looseObject({
  name: z.string().trim().min(1, { error: 'must not be empty' }),
  instructions: z.union([z.string(), RichTextSchema]).nullish(),
  due_date: z.number().int().nullish(),
  owner_id: z.number().int().nullish(),
});
/** A new task. */
export type TaskCreate = z.infer<typeof TaskCreateSchema>;

/** `POST /rest/orgs/{org}/incidents/{id}/action_invocations`, as the real API takes it. */
export const ActionInvocationSchema = z.looseObject({
  action_id: z.union([z.number().int(), z.string().min(1)]),
  properties: z.record(z.string(), z.unknown()).nullish(),
  /** Emulator extension: which destination, when the action has several. */
  destination: z.union([z.string().min(1), z.number().int()]).optional(),
});
/** An action invocation through the REST API. */
export type ActionInvocationBody = z.infer<typeof ActionInvocationSchema>;

/**
 * What `handle.trigger()` and `POST /emulator/trigger` take: the platform UI's
 * "invoke action" on an object.
 */
export const TriggerRequestSchema = z.looseObject({
  /** Programmatic name (or id) of the destination; optional when the action has exactly one. */
  destination: z.union([z.string().min(1), id]).optional(),
  /** The action's name or id. */
  action: z.union([z.string().min(1), id]),
  /** The incident the action runs on (all messages carry one). */
  incident: id.optional(),
  /** Action field values by field name; select values may be given by label. */
  properties: z.record(z.string(), z.unknown()).nullish(),
  /** Defaults to the action's object type. */
  objectType: z.enum(OBJECT_TYPES).optional(),
  /** The object's id; for incidents it defaults to `incident`. */
  objectId: id.optional(),
});
/** A trigger request. */
export type TriggerRequest = z.input<typeof TriggerRequestSchema>;

/** True for the input types whose values are select ids. */
export function isSelect(inputType: string | undefined): boolean {
  return inputType === 'select' || inputType === 'multiselect';
}
