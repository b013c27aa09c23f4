import { z } from 'zod';

/** One choice of a select field, as found in `type_info`. */
export const SelectValueSchema = z.looseObject({
  label: z.string(),
  value: z.union([z.number(), z.string()]).optional(),
  enabled: z.boolean().optional(),
});

/** A field's description inside `type_info[<type>].fields`. */
export const FieldInfoSchema = z.looseObject({
  name: z.string().optional(),
  input_type: z.string().optional(),
  values: z.record(z.string(), SelectValueSchema).optional(),
});

/** Type information the platform sends so ids can be turned into labels. */
export const TypeInfoSchema = z.looseObject({
  fields: z.record(z.string(), FieldInfoSchema).default({}),
});

/** Objects in an action message mostly carry ids; everything else is tolerated. */
const ObjectRefSchema = z.looseObject({ id: z.number().int() });

/**
 * The body of an action message (the platform's ActionDataDTO).
 * Unknown fields are kept, as newer platforms add them.
 *
 * @example
 * const msg = ActionDataSchema.parse(JSON.parse(body));
 * msg.incident?.id;
 */
export const ActionDataSchema = z.looseObject({
  action_id: z.number().int(),
  type_id: z.number().int().optional(),
  incident: ObjectRefSchema.nullish(),
  task: ObjectRefSchema.nullish(),
  artifact: ObjectRefSchema.nullish(),
  note: ObjectRefSchema.nullish(),
  milestone: ObjectRefSchema.nullish(),
  attachment: ObjectRefSchema.nullish(),
  type_info: z.record(z.string(), TypeInfoSchema).default({}),
  properties: z.record(z.string(), z.unknown()).nullish().transform((p) => p ?? {}),
  user: z
    .looseObject({
      id: z.number().int().optional(),
      email: z.string().optional(),
      fname: z.string().optional(),
      lname: z.string().optional(),
    })
    .nullish(),
});

/** A parsed action message. */
export type ActionData = z.infer<typeof ActionDataSchema>;
/** What the platform puts on the wire (before defaults are applied). */
export type ActionDataInput = z.input<typeof ActionDataSchema>;

/**
 * Turns a select field's id into its label through the message's `type_info`.
 * Returns `undefined` when the type, field or value is not described.
 *
 * @example
 * // "High" for an incident whose severity_code is 6
 * selectLabel(msg, 'incident', 'severity_code', msg.incident?.severity_code);
 */
export function selectLabel(
  message: Pick<ActionData, 'type_info'>,
  type: string,
  field: string,
  id: unknown,
): string | undefined {
  if (id === undefined || id === null) return undefined;
  return message.type_info[type]?.fields[field]?.values?.[String(id)]?.label;
}
