import { isDeepStrictEqual } from 'node:util';
import type { ActionDefinition, ConditionDefinition, DestinationDefinition, FieldDefinition } from './definitions.js';
import type { PlatformSelectValue, PlatformType } from './platform.js';

/*
 * How each key a definition sets maps onto the platform's object: the value
 * it wants (in the platform's form), how to read the current one, how to
 * write it, and how to show either in the definitions' own words. Only keys
 * the definition sets are listed, so whatever the platform adds (ids, uuids,
 * defaults, other users' settings) is neither compared nor overwritten.
 */

/** A platform object as JSON. */
export type PlatformObject = Record<string, unknown>;

/** One key a definition sets. */
export interface Property {
  /** The key in the definitions' words, e.g. `layout.header`. */
  key: string;
  /** The wanted value, in the platform's form. */
  want: unknown;
  /** The current value of a platform object, comparable with `want`. */
  read(object: PlatformObject): unknown;
  /** Sets the wanted value on a platform object (a copy being prepared for a POST or PUT). */
  write(object: PlatformObject): void;
  /** A value (in the platform's form) in the definitions' words, for people. */
  show(value: unknown): unknown;
}

/** A difference between a definition and the platform. */
export interface Change {
  key: string;
  /** The platform's value, in the definitions' words (undefined: none). */
  from: unknown;
  /** The declared value, in the definitions' words. */
  to: unknown;
}

/** Object types by name, for turning select labels in conditions into ids. */
export type ConditionTypes = Record<string, PlatformType>;

/** The keys a message destination definition sets. */
export function destinationProperties(d: DestinationDefinition): Property[] {
  const props: Property[] = [plain('name', d.name)];
  if (d.destination_type !== undefined) {
    props.push({
      ...plain('destination_type', d.destination_type === 'topic' ? 1 : 0),
      show: (v) => (v === 0 ? 'queue' : v === 1 ? 'topic' : v),
    });
  }
  if (d.expect_ack !== undefined) props.push(plain('expect_ack', d.expect_ack));
  if (d.users !== undefined) props.push(unordered('users', 'users', d.users));
  if (d.api_keys !== undefined) props.push(unordered('api_keys', 'api_keys', d.api_keys));
  return props;
}

/** The keys an action field definition sets. */
export function fieldProperties(f: FieldDefinition): Property[] {
  const props: Property[] = [plain('text', f.text), plain('input_type', f.input_type)];
  if (f.required !== undefined) {
    // The platform answers `required` as a boolean or as "always"; install sends a boolean.
    props.push({ ...plain('required', f.required), read: (o) => o['required'] === true || o['required'] === 'always' });
  }
  if (f.tooltip !== undefined) props.push({ ...plain('tooltip', f.tooltip), read: (o) => o['tooltip'] ?? '' });
  if (f.placeholder !== undefined) props.push({ ...plain('placeholder', f.placeholder), read: (o) => o['placeholder'] ?? '' });
  if (f.values !== undefined) props.push(selectValues(f.values));
  return props;
}

/** The keys an action definition sets. `types` holds the object types its conditions refer to. */
export function actionProperties(a: ActionDefinition, types: ConditionTypes): Property[] {
  const props: Property[] = [
    { ...plain('type', a.type === 'manual' ? 1 : 0), show: (v) => (v === 1 ? 'manual' : v === 0 ? 'automatic' : v) },
    plain('object_type', a.object_type),
    unordered('destinations', 'message_destinations', a.destinations),
  ];
  if (a.conditions !== undefined) props.push(conditions(a.object_type, a.conditions, types));
  if (a.logic !== undefined) props.push({ ...plain('logic', a.logic, 'logic_type'), read: (o) => o['logic_type'] ?? 'all' });
  if (a.enabled !== undefined) props.push({ ...plain('enabled', a.enabled), read: (o) => o['enabled'] ?? true });
  if (a.layout?.header !== undefined) props.push(layoutHeader(a.layout.header));
  if (a.layout?.fields !== undefined) props.push(layoutFields(a.layout.fields));
  return props;
}

/** The keys whose platform value differs from the declared one. */
export function differences(props: Property[], object: PlatformObject): Change[] {
  return props
    .filter((p) => !isDeepStrictEqual(normal(p.read(object)), normal(p.want)))
    .map((p) => ({ key: p.key, from: p.show(p.read(object)), to: p.show(p.want) }));
}

/**
 * `object` with every differing key set to its declared value, or undefined
 * when nothing differs (someone already made the change).
 */
export function patched(props: Property[], object: PlatformObject): PlatformObject | undefined {
  if (differences(props, object).length === 0) return undefined;
  const copy = structuredClone(object);
  for (const p of props) p.write(copy);
  return copy;
}

/** A new object: `base` (identity keys) with every declared key written. */
export function created(props: Property[], base: PlatformObject): PlatformObject {
  const copy = structuredClone(base);
  for (const p of props) p.write(copy);
  return copy;
}

// ---- property kinds ------------------------------------------------------

function plain(key: string, want: unknown, platformKey = key): Property {
  return {
    key,
    want,
    read: (o) => o[platformKey],
    write: (o) => void (o[platformKey] = want),
    show: (v) => v,
  };
}

/** A list whose order does not matter (destinations of an action, users of a destination). */
function unordered(key: string, platformKey: string, want: string[]): Property {
  const sorted = (v: unknown) => (Array.isArray(v) ? v.map(String).sort() : v);
  return {
    key,
    want: sorted(want),
    read: (o) => sorted(o[platformKey] ?? []),
    write: (o) => void (o[platformKey] = [...want]),
    show: (v) => v,
  };
}

/**
 * Select values, compared in order on the keys the definition gives for each
 * (a value without `value` matches whatever id the platform picked). Written
 * back with the platform's ids kept, so stored choices keep their meaning.
 */
function selectValues(want: NonNullable<FieldDefinition['values']>): Property {
  const declared = want.map((v) => strip({ label: v.label, value: v.value, enabled: v.enabled }));
  return {
    key: 'values',
    want: declared,
    read: (o) =>
      platformValues(o).map((pv, index) => {
        const d = want[index];
        return strip({ label: pv.label, value: d?.value !== undefined ? pv.value : undefined, enabled: d?.enabled !== undefined ? (pv.enabled ?? true) : undefined });
      }),
    write: (o) => {
      const existing = platformValues(o);
      o['values'] = want.map((v) => {
        const kept = v.value !== undefined ? existing.find((e) => String(e.value) === String(v.value)) : existing.find((e) => e.label === v.label);
        return strip({ ...kept, label: v.label, value: v.value ?? kept?.value, enabled: v.enabled ?? kept?.enabled ?? true });
      });
    },
    show: (v) => (Array.isArray(v) ? v.map(showValue) : v),
  };
}

function conditions(objectType: string, want: ConditionDefinition[], types: ConditionTypes): Property {
  const declared = want.map((c) => ({ field_name: fieldKey(c.field, objectType), method: c.operator, value: conditionValue(c, objectType, types) }));
  return {
    key: 'conditions',
    want: declared,
    read: (o) =>
      ((o['conditions'] as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({
        field_name: fieldKey(c['field_name'] as string | null | undefined, objectType),
        method: c['method'],
        value: c['value'] ?? null,
      })),
    write: (o) =>
      void (o['conditions'] = want.map((c) => ({ field_name: c.field ?? null, method: c.operator, value: conditionValue(c, objectType, types) }))),
    show: (v) => (Array.isArray(v) ? v.map((c: Record<string, unknown>) => conditionText(c, objectType, types)) : v),
  };
}

function layoutHeader(want: string): Property {
  return {
    key: 'layout.header',
    want,
    read: (o) => viewItems(o).find((v) => v['element'] === 'header')?.['content'],
    write: (o) => {
      const items = viewItems(o);
      const at = items.findIndex((v) => v['element'] === 'header');
      if (at >= 0) items.splice(at, 1);
      o['view_items'] = [{ element: 'header', field_type: null, content: want, show_if: null, show_link_header: false }, ...items];
    },
    show: (v) => v,
  };
}

function layoutFields(want: string[]): Property {
  return {
    key: 'layout.fields',
    want,
    read: (o) => viewItems(o).filter(isFieldItem).map((v) => v['content']),
    write: (o) =>
      void (o['view_items'] = [
        ...viewItems(o).filter((v) => !isFieldItem(v)),
        ...want.map((content) => ({ element: 'field', field_type: 'actioninvocation', content, show_if: null, show_link_header: false })),
      ]),
    show: (v) => v,
  };
}

// ---- helpers ---------------------------------------------------------------

function platformValues(o: PlatformObject): PlatformSelectValue[] {
  return (o['values'] as PlatformSelectValue[] | undefined) ?? [];
}

function viewItems(o: PlatformObject): Array<Record<string, unknown>> {
  return [...((o['view_items'] as Array<Record<string, unknown>> | undefined) ?? [])];
}

function isFieldItem(v: Record<string, unknown>): boolean {
  return v['element'] === 'field' && (v['field_type'] === 'actioninvocation' || v['field_type'] === undefined || v['field_type'] === null);
}

/** `artifact.type` and `type` name the same field of an artifact. */
function fieldKey(field: string | null | undefined, objectType: string): string | null {
  if (field === undefined || field === null) return null;
  return field.startsWith(`${objectType}.`) ? field.slice(objectType.length + 1) : field;
}

function typeField(field: string | null | undefined, objectType: string, types: ConditionTypes) {
  const name = fieldKey(field, objectType)?.replace(/^properties\./, '');
  return name === undefined || name === null ? undefined : types[objectType]?.fields[name];
}

/** A condition's value as the platform stores it: select labels become ids; valueless operators get null. */
function conditionValue(c: ConditionDefinition, objectType: string, types: ConditionTypes): unknown {
  if (c.value === undefined) return null;
  const field = typeField(c.field, objectType, types);
  const values = field?.values ?? [];
  if (!field || (field.input_type !== 'select' && field.input_type !== 'multiselect') || values.length === 0) return c.value;
  const one = (v: unknown) => values.find((s) => s.label === v)?.value ?? values.find((s) => String(s.value) === String(v))?.value ?? v;
  return Array.isArray(c.value) ? c.value.map(one) : one(c.value);
}

/** `artifact.type in [IP Address, DNS Name]`: a stored condition with its select ids shown as labels. */
function conditionText(c: Record<string, unknown>, objectType: string, types: ConditionTypes): string {
  const field = c['field_name'] as string | null;
  const values = typeField(field, objectType, types)?.values ?? [];
  const label = (v: unknown) => values.find((s) => String(s.value) === String(v))?.label ?? (typeof v === 'string' ? v : JSON.stringify(v));
  const value = c['value'];
  const shown = value === null || value === undefined ? '' : Array.isArray(value) ? ` [${value.map(label).join(', ')}]` : ` ${label(value)}`;
  return `${field ? `${objectType}.${field} ` : ''}${String(c['method'])}${shown}`;
}

function showValue(v: Record<string, unknown>): string {
  return `${String(v['label'])}${v['value'] !== undefined ? `=${String(v['value'])}` : ''}${v['enabled'] === false ? ' (disabled)' : ''}`;
}

/** Numbers and numeric strings compare equal (`"4"` and `4` are the same select id). */
function normal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normal);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normal(v)]));
  if (typeof value === 'number') return String(value);
  return value;
}

function strip<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}
