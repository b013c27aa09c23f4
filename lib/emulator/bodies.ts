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

/** `POST /rest/orgs/{org}/types/{type}/fields`. */
export const FieldCreateSchema = z
  .looseObject({
    name: fieldName,
    text: z.string().optional(),
    input_type: z.enum(INPUT_TYPES, { error: `must be one of ${INPUT_TYPES.join(', ')}` }),
    required: requiredFlag,
    values: z.array(SelectValueInputSchema).optional(),
    tooltip: z.string().nullish(),
    placeholder: z.string().nullish(),
  })
  .refine((f) => !isSelect(f.input_type) || (f.values !== undefined && f.values.length > 0), {
    error: 'a select or multiselect field needs at least one value',
    path: ['values'],
  });
/** A new field. */
export type FieldCreate = z.infer<typeof FieldCreateSchema>;

/** `PUT /rest/orgs/{org}/types/{type}/fields/{id}`: what is absent is kept. */
export const FieldUpdateSchema = z.looseObject({
  id: z.number().int().optional(),
  name: fieldName.optional(),
  text: z.string().optional(),
  input_type: z.enum(INPUT_TYPES, { error: `must be one of ${INPUT_TYPES.join(', ')}` }).optional(),
  required: requiredFlag,
  values: z.array(SelectValueInputSchema).optional(),
  tooltip: z.string().nullish(),
  placeholder: z.string().nullish(),
});
/** A field update. */
export type FieldUpdate = z.infer<typeof FieldUpdateSchema>;

/** `POST /rest/orgs/{org}/message_destinations`. */
export const DestinationCreateSchema = z
  .looseObject({
    name: z.string().min(1).optional(),
    programmatic_name: programmaticName.optional(),
    destination_type: z.union([z.literal(0), z.literal(1)], { error: 'must be 0 (queue) or 1 (topic)' }).optional(),
    expect_ack: z.boolean().optional(),
    users: z.array(z.string()).optional(),
    api_keys: z.array(z.string()).optional(),
  })
  .refine((d) => d.name !== undefined || d.programmatic_name !== undefined, {
    error: 'name or programmatic_name is required',
    path: ['programmatic_name'],
  });
/** A new message destination. */
export type DestinationCreate = z.infer<typeof DestinationCreateSchema>;

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

/** One condition of an action. */
export const ConditionSchema = z.looseObject({
  field_name: z.string().min(1),
  method: z.enum(CONDITION_METHODS, { error: `must be one of ${CONDITION_METHODS.join(', ')}` }),
  value: z.unknown().optional(),
  type: z.string().nullish(),
  evaluation_id: z.number().int().nullish(),
});

/** One layout element of a manual action. */
export const ViewItemInputSchema = z.looseObject({
  element: z.enum(['field', 'header', 'html']).default('field'),
  field_type: z.string().nullish(),
  content: z.string().min(1),
  show_if: z.unknown().optional(),
  show_link_header: z.boolean().optional(),
});

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
