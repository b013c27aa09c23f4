import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { PROGRAMMATIC_NAME } from '../wire/headers.js';

/*
 * The declarative files in `destinations/` that `cafkit install` puts on the
 * platform: message destinations, action fields and actions. One schema per
 * object; the types are inferred from them. Objects are strict, so a typo in
 * a key is an error naming it rather than a setting silently ignored.
 */

const identifier = z.string().regex(/^[A-Za-z0-9_]+$/, { error: 'must contain only letters, digits and underscores' });
const programmaticName = z.string().regex(PROGRAMMATIC_NAME, { error: 'must contain only letters, digits and underscores' });

/** Input types of action fields, as the platform names them. */
export const FIELD_INPUT_TYPES = ['text', 'textarea', 'number', 'boolean', 'select', 'multiselect', 'date', 'datetimepicker'] as const;

/** Object types an action can be defined on. */
export const ACTION_OBJECT_TYPES = ['incident', 'task', 'artifact', 'note', 'milestone', 'attachment'] as const;

/** Condition operators (the platform's condition methods). */
export const CONDITION_OPERATORS = [
  'equals',
  'not_equals',
  'contains',
  'not_contains',
  'in',
  'not_in',
  'has_a_value',
  'not_has_a_value',
  'changed',
  'changed_to',
  'not_changed_to',
  'object_added',
  'object_removed',
  'gt',
  'gte',
  'lt',
  'lte',
] as const;

/** Operators about the object itself: they name no field. */
const OBJECT_OPERATORS: readonly string[] = ['object_added', 'object_removed'];
/** Operators that take no value. */
const VALUELESS_OPERATORS: readonly string[] = ['has_a_value', 'not_has_a_value', 'changed', 'object_added', 'object_removed'];

/**
 * A message destination.
 *
 * @example
 * - name: Incident operations      # display name
 *   programmatic_name: incident_ops
 *   destination_type: queue        # or topic
 *   expect_ack: true
 *   users: [svc-cafkit@example.com]
 */
export const DestinationDefinitionSchema = z.strictObject({
  /** Display name (any characters). */
  name: z.string().trim().min(1, { error: 'must not be empty' }),
  /** What processors connect with: `actions.<org>.<programmatic_name>`. */
  programmatic_name: programmaticName,
  destination_type: z.enum(['queue', 'topic'], { error: 'must be queue or topic' }).optional(),
  expect_ack: z.boolean().optional(),
  /** Emails of the users allowed to read it. */
  users: z.array(z.string().min(1)).optional(),
  /** Ids of the API keys allowed to read it. */
  api_keys: z.array(z.string().min(1)).optional(),
});
/** A message destination as declared. */
export type DestinationDefinition = z.infer<typeof DestinationDefinitionSchema>;

/** One choice of a select or multiselect action field; `value` (the id) is the platform's to pick when absent. */
export const SelectValueDefinitionSchema = z.strictObject({
  label: z.string().min(1, { error: 'must not be empty' }),
  value: z.union([z.number().int(), z.string().min(1)]).optional(),
  enabled: z.boolean().optional(),
});
/** A select value as declared. */
export type SelectValueDefinition = z.infer<typeof SelectValueDefinitionSchema>;

/**
 * An action field (a field of the platform's `actioninvocation` type, shown
 * in a manual action's dialog).
 *
 * @example
 * - name: priority
 *   text: Priority
 *   input_type: select
 *   required: true
 *   values: [{ label: Low }, { label: High }]
 */
export const FieldDefinitionSchema = z
  .strictObject({
    name: identifier,
    /** The label shown in the dialog. */
    text: z.string().min(1, { error: 'must not be empty' }),
    input_type: z.enum(FIELD_INPUT_TYPES, { error: `must be one of ${FIELD_INPUT_TYPES.join(', ')}` }),
    required: z.boolean().optional(),
    tooltip: z.string().optional(),
    placeholder: z.string().optional(),
    values: z.array(SelectValueDefinitionSchema).optional(),
  })
  .superRefine((field, ctx) => {
    const select = field.input_type === 'select' || field.input_type === 'multiselect';
    if (select && (field.values === undefined || field.values.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `a ${field.input_type} field needs at least one value` });
    }
    if (!select && field.values !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `only select and multiselect fields have values, not ${field.input_type} fields` });
    }
    const labels = new Set<string>();
    for (const [index, value] of (field.values ?? []).entries()) {
      if (labels.has(value.label)) ctx.addIssue({ code: 'custom', path: ['values', index, 'label'], message: `"${value.label}" appears twice` });
      labels.add(value.label);
    }
  });
/** An action field as declared. */
export type FieldDefinition = z.infer<typeof FieldDefinitionSchema>;

/**
 * A condition of an action. `field` is `<object type>.<field>` (or just the
 * field); select values may be given by label.
 *
 * @example
 * { field: artifact.type, operator: in, value: [IP Address, DNS Name] }
 */
export const ConditionDefinitionSchema = z
  .strictObject({
    field: z.string().min(1).optional(),
    operator: z.enum(CONDITION_OPERATORS, { error: `must be one of ${CONDITION_OPERATORS.join(', ')}` }),
    value: z.unknown().optional(),
  })
  .superRefine((condition, ctx) => {
    if (condition.field === undefined && !OBJECT_OPERATORS.includes(condition.operator)) {
      ctx.addIssue({ code: 'custom', path: ['field'], message: `is required for operator ${condition.operator}` });
    }
    if ((condition.operator === 'in' || condition.operator === 'not_in') && !Array.isArray(condition.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `operator ${condition.operator} needs a list of values` });
    }
    if (VALUELESS_OPERATORS.includes(condition.operator) && condition.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `operator ${condition.operator} takes no value` });
    }
    if (!VALUELESS_OPERATORS.includes(condition.operator) && condition.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `operator ${condition.operator} needs a value` });
    }
  });
/** A condition as declared. */
export type ConditionDefinition = z.infer<typeof ConditionDefinitionSchema>;

/** The dialog of a manual action: an optional header text, then action fields. */
export const LayoutDefinitionSchema = z.strictObject({
  header: z.string().min(1, { error: 'must not be empty' }).optional(),
  fields: z.array(identifier).optional(),
});
/** A layout as declared. */
export type LayoutDefinition = z.infer<typeof LayoutDefinitionSchema>;

/**
 * An action: a manual one (a menu item, with an optional dialog) or an
 * automatic one (fires when its conditions hold).
 *
 * @example
 * - name: Add Note
 *   type: manual
 *   object_type: incident
 *   destinations: [incident_ops]
 *   layout: { header: Adds the text below as a note, fields: [note_text] }
 */
export const ActionDefinitionSchema = z
  .strictObject({
    name: z.string().trim().min(1, { error: 'must not be empty' }),
    type: z.enum(['manual', 'automatic'], { error: 'must be manual or automatic' }),
    object_type: z.enum(ACTION_OBJECT_TYPES, { error: `must be one of ${ACTION_OBJECT_TYPES.join(', ')}` }),
    /** Programmatic names of the message destinations it sends to. */
    destinations: z.array(programmaticName).min(1, { error: 'needs at least one message destination' }),
    conditions: z.array(ConditionDefinitionSchema).optional(),
    /** How conditions combine: `all` (the platform's default) or `any`. */
    logic: z.enum(['all', 'any']).optional(),
    enabled: z.boolean().optional(),
    layout: LayoutDefinitionSchema.optional(),
  })
  .superRefine((action, ctx) => {
    if (action.type === 'automatic' && action.layout !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['layout'], message: 'an automatic action has no dialog, so no layout' });
    }
    const seen = new Set<string>();
    for (const [index, destination] of action.destinations.entries()) {
      if (seen.has(destination)) ctx.addIssue({ code: 'custom', path: ['destinations', index], message: `"${destination}" appears twice` });
      seen.add(destination);
    }
  });
/** An action as declared. */
export type ActionDefinition = z.infer<typeof ActionDefinitionSchema>;

/** One definitions file. Every section is optional. */
export const DefinitionFileSchema = z.strictObject({
  message_destinations: z.array(DestinationDefinitionSchema).default([]),
  action_fields: z.array(FieldDefinitionSchema).default([]),
  actions: z.array(ActionDefinitionSchema).default([]),
});
/** A parsed definitions file. */
export type DefinitionFile = z.infer<typeof DefinitionFileSchema>;

/** A definition and where it was declared (`key` is e.g. `actions[1]`). */
export interface Declared<T> {
  definition: T;
  file: string;
  key: string;
}

/** Everything declared in a folder of definition files, in file order. */
export interface Definitions {
  destinations: Declared<DestinationDefinition>[];
  fields: Declared<FieldDefinition>[];
  actions: Declared<ActionDefinition>[];
}

/** What the platform already has, for resolving references that no file declares. */
export interface KnownOnPlatform {
  /** Programmatic names of message destinations. */
  destinations: Iterable<string>;
  /** Names of action fields. */
  fields: Iterable<string>;
}

/**
 * Definition files that do not make sense, with every problem listed as
 * `<file>: <key>: <what is wrong>`. A {@link ConfigError}, so the CLI exits 2.
 */
export class DefinitionError extends ConfigError {
  override name = 'DefinitionError';
  constructor(issues: string[]) {
    super(`invalid definitions:\n  ${issues.join('\n  ')}`, issues);
  }
}

/**
 * Validates parsed definition files (YAML already read) and gathers them,
 * checking across files that no destination, field or action is declared
 * twice. Throws {@link DefinitionError} with every problem found.
 *
 * @example
 * const defs = parseDefinitions([{ file: 'destinations/ops.yaml', content: parseYaml(text) }]);
 * defs.actions.map((a) => a.definition.name); // ['Echo', 'Add Note', ...]
 */
export function parseDefinitions(files: Array<{ file: string; content: unknown }>): Definitions {
  const issues: string[] = [];
  const definitions: Definitions = { destinations: [], fields: [], actions: [] };
  for (const { file, content } of files) {
    const parsed = DefinitionFileSchema.safeParse(content ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) issues.push(`${file}: ${describeIssue(issue, content)}`);
      continue;
    }
    const data = parsed.data;
    data.message_destinations.forEach((definition, index) => definitions.destinations.push({ definition, file, key: `message_destinations[${index}]` }));
    data.action_fields.forEach((definition, index) => definitions.fields.push({ definition, file, key: `action_fields[${index}]` }));
    data.actions.forEach((definition, index) => definitions.actions.push({ definition, file, key: `actions[${index}]` }));
  }
  issues.push(
    ...duplicates(definitions.destinations, (d) => d.programmatic_name, 'programmatic_name', 'message destination'),
    ...duplicates(definitions.destinations, (d) => d.name, 'name', 'message destination named'),
    ...duplicates(definitions.fields, (f) => f.name, 'name', 'action field'),
    ...duplicates(definitions.actions, (a) => a.name, 'name', 'action'),
  );
  if (issues.length > 0) throw new DefinitionError(issues);
  return definitions;
}

/**
 * The references no file declares and the platform does not have: an
 * action's destinations and layout fields. Empty when all resolve.
 *
 * @example
 * referenceProblems(defs, { destinations: ['incident_ops'], fields: [] });
 * // ['destinations/ops.yaml: actions[1].layout.fields[0]: action "Add Note" shows action field "note_txt", which is declared nowhere and not on the platform']
 */
export function referenceProblems(definitions: Definitions, platform: KnownOnPlatform = { destinations: [], fields: [] }): string[] {
  const destinations = new Set([...definitions.destinations.map((d) => d.definition.programmatic_name), ...platform.destinations]);
  const fields = new Set([...definitions.fields.map((f) => f.definition.name), ...platform.fields]);
  const issues: string[] = [];
  for (const { definition: action, file, key } of definitions.actions) {
    action.destinations.forEach((name, index) => {
      if (!destinations.has(name)) {
        issues.push(`${file}: ${key}.destinations[${index}]: action "${action.name}" sends to message destination "${name}", which is declared nowhere and not on the platform`);
      }
    });
    (action.layout?.fields ?? []).forEach((name, index) => {
      if (!fields.has(name)) {
        issues.push(`${file}: ${key}.layout.fields[${index}]: action "${action.name}" shows action field "${name}", which is declared nowhere and not on the platform`);
      }
    });
  }
  return issues;
}

/** Throws {@link DefinitionError} when {@link referenceProblems} finds any. */
export function checkReferences(definitions: Definitions, platform?: KnownOnPlatform): void {
  const issues = referenceProblems(definitions, platform);
  if (issues.length > 0) throw new DefinitionError(issues);
}

function duplicates<T>(declared: Declared<T>[], keyOf: (definition: T) => string, field: string, what: string): string[] {
  const first = new Map<string, Declared<T>>();
  const issues: string[] = [];
  for (const item of declared) {
    const value = keyOf(item.definition);
    const earlier = first.get(value);
    if (earlier) issues.push(`${item.file}: ${item.key}.${field}: ${what} "${value}" is already declared at ${earlier.file}: ${earlier.key}`);
    else first.set(value, item);
  }
  return issues;
}

/** `actions[1].layout.fields[0]: action "Add Note": <message>`, from a zod issue and the raw file content. */
function describeIssue(issue: z.core.$ZodIssue, content: unknown): string {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const key = path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || '(top level)';
  const owner = ownerName(path, content);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  else if (issue.code !== 'custom' && path.length > 0 && !hasKey(content, path)) message = 'is required';
  return `${key}: ${owner ? `${owner}: ` : ''}${message}`;
}

/** True when the raw content has something at `path`. */
function hasKey(content: unknown, path: Array<string | number>): boolean {
  let node: unknown = content;
  for (const part of path) {
    if (node === null || typeof node !== 'object' || !(part in node)) return false;
    node = (node as Record<string | number, unknown>)[part];
  }
  return node !== undefined && node !== null;
}

/** `action "Add Note"` for a path inside the second action, when the file names it. */
function ownerName(path: Array<string | number>, content: unknown): string | undefined {
  const [section, index] = path;
  if (typeof section !== 'string' || typeof index !== 'number' || path.length < 3) return undefined;
  const item = (content as Record<string, unknown[] | undefined> | null)?.[section]?.[index] as Record<string, unknown> | undefined;
  const what = { message_destinations: 'message destination', action_fields: 'action field', actions: 'action' }[section];
  const name = section === 'message_destinations' ? (item?.['programmatic_name'] ?? item?.['name']) : item?.['name'];
  return what && typeof name === 'string' ? `${what} "${name}"` : undefined;
}
