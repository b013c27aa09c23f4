import { z } from 'zod';
import type { RestClient } from '../rest/client.js';
import type { Definitions } from './definitions.js';

/*
 * What the platform answers about its installation objects. Loose schemas:
 * the platform sends far more than install compares, and newer versions add
 * keys; only what install reads is checked.
 */

/** One choice of a select field. */
export const PlatformSelectValueSchema = z.looseObject({
  value: z.union([z.number(), z.string()]),
  label: z.string(),
  enabled: z.boolean().optional(),
});
/** A select value as the platform answers it. */
export type PlatformSelectValue = z.infer<typeof PlatformSelectValueSchema>;

/** `GET /message_destinations` entities. */
export const PlatformDestinationSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  programmatic_name: z.string(),
  destination_type: z.number().int().optional(),
  expect_ack: z.boolean().optional(),
  users: z.array(z.unknown()).optional(),
  api_keys: z.array(z.unknown()).optional(),
});
/** A message destination on the platform. */
export type PlatformDestination = z.infer<typeof PlatformDestinationSchema>;

/** `GET /types/{type}/fields` items. */
export const PlatformFieldSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  text: z.string().nullish(),
  input_type: z.string(),
  required: z.union([z.boolean(), z.string(), z.null()]).optional(),
  tooltip: z.string().nullish(),
  placeholder: z.string().nullish(),
  values: z.array(PlatformSelectValueSchema).nullish().transform((v) => v ?? []),
});
/** A field on the platform. */
export type PlatformField = z.infer<typeof PlatformFieldSchema>;

/** `GET /actions?handle_format=names` entities. */
export const PlatformActionSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  type: z.number().int(),
  object_type: z.union([z.string(), z.number()]),
  enabled: z.boolean().optional(),
  logic_type: z.string().nullish(),
  conditions: z
    .array(z.looseObject({ field_name: z.string().nullish(), method: z.string(), value: z.unknown().optional() }))
    .nullish()
    .transform((v) => v ?? []),
  message_destinations: z
    .array(z.union([z.string(), z.number()]))
    .nullish()
    .transform((v) => v ?? []),
  view_items: z
    .array(z.looseObject({ element: z.string(), field_type: z.string().nullish(), content: z.string() }))
    .nullish()
    .transform((v) => v ?? []),
});
/** An action on the platform. */
export type PlatformAction = z.infer<typeof PlatformActionSchema>;

/** `GET /types/{type}`: the fields of an object type, keyed by name (only what conditions need). */
export const PlatformTypeSchema = z.looseObject({
  fields: z.record(z.string(), z.looseObject({ name: z.string(), input_type: z.string(), values: z.array(PlatformSelectValueSchema).nullish() })),
});
/** An object type on the platform. */
export type PlatformType = z.infer<typeof PlatformTypeSchema>;

/** The platform's installation objects, as read before planning. */
export interface PlatformState {
  destinations: PlatformDestination[];
  /** Fields of the `actioninvocation` type. */
  fields: PlatformField[];
  actions: PlatformAction[];
  /** Object types that conditions refer to, by name (to turn select labels into ids). */
  types: Record<string, PlatformType>;
}

/** REST paths of the installation objects, relative to the organisation. */
export const PATHS = {
  destinations: '/message_destinations',
  destination: (id: number) => `/message_destinations/${id}`,
  fields: '/types/actioninvocation/fields',
  field: (id: number) => `/types/actioninvocation/fields/${id}`,
  // Names, not ids, for object types and destinations: what definitions use.
  actions: '/actions?handle_format=names',
  action: (id: number) => `/actions/${id}?handle_format=names`,
  type: (name: string) => `/types/${encodeURIComponent(name)}`,
} as const;

/**
 * Reads the destinations, action fields and actions on the platform, and the
 * object types the declared conditions refer to.
 *
 * @example
 * const platform = await readPlatform(rest, definitions);
 * platform.actions.map((a) => a.name);
 */
export async function readPlatform(rest: RestClient, definitions?: Definitions): Promise<PlatformState> {
  const [destinations, fields, actions] = await Promise.all([
    rest.get<unknown>(PATHS.destinations).then((body) => list(PlatformDestinationSchema, body, `GET ${PATHS.destinations}`)),
    rest.get<unknown>(PATHS.fields).then((body) => list(PlatformFieldSchema, body, `GET ${PATHS.fields}`)),
    rest.get<unknown>(PATHS.actions).then((body) => list(PlatformActionSchema, body, `GET ${PATHS.actions}`)),
  ]);
  const typeNames = new Set((definitions?.actions ?? []).filter((a) => (a.definition.conditions ?? []).length > 0).map((a) => a.definition.object_type));
  const types: Record<string, PlatformType> = {};
  for (const name of typeNames) types[name] = parse(PlatformTypeSchema, await rest.get<unknown>(PATHS.type(name)), `GET ${PATHS.type(name)}`);
  return { destinations, fields, actions, types };
}

/** A list answer: a plain array, or `{entities: [...]}` as the platform wraps most lists. */
function list<S extends z.ZodType>(schema: S, body: unknown, what: string): Array<z.infer<S>> {
  const items = Array.isArray(body) ? body : (body as { entities?: unknown } | null)?.entities;
  return parse(z.array(schema), items, what);
}

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  throw new Error(`the platform answered ${what} with something unexpected (${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'})`);
}
