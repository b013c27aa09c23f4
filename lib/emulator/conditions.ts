import { isDeepStrictEqual } from 'node:util';
import { hasValue } from './field-values.js';
import type { Action, ActionCondition, TypeDef } from './model.js';

/** An object before and after a change; `before` is undefined when it was just created. */
export interface ObjectChange {
  before: Record<string, unknown> | undefined;
  after: Record<string, unknown>;
}

/**
 * Whether an automatic action's conditions hold for a change, as the
 * platform's rule engine decides it: no conditions means "always"; `logic_type`
 * `all` needs every condition, `any` one of them. Select conditions may name
 * the value by label. Methods that need a clock (`due_within`, `overdue_by`)
 * or child objects (`has_at_least_one`, `has_none`) are never met here.
 *
 * @example
 * conditionsMet(action, incidentType, { before, after }); // true when severity_code changed to 6
 */
export function conditionsMet(action: Pick<Action, 'conditions' | 'logic_type'>, type: TypeDef, change: ObjectChange): boolean {
  if (action.conditions.length === 0) return true;
  const results = action.conditions.map((c) => conditionMet(c, type, change));
  return action.logic_type === 'any' ? results.some(Boolean) : results.every(Boolean);
}

/** One condition against a change. */
export function conditionMet(condition: ActionCondition, type: TypeDef, change: ObjectChange): boolean {
  const name = fieldName(condition.field_name ?? '', type.type_name);
  const now = read(change.after, name);
  const was = change.before === undefined ? undefined : read(change.before, name);
  const wanted = canonical(condition.value, type, name);
  const changed = change.before === undefined ? hasValue(now) : !isDeepStrictEqual(was, now);
  switch (condition.method) {
    case 'object_added':
      return change.before === undefined;
    case 'object_removed':
      return false;
    case 'equals':
      return same(now, wanted);
    case 'not_equals':
      return !same(now, wanted);
    case 'changed':
      return changed;
    case 'changed_to':
      return changed && same(now, wanted);
    case 'not_changed_to':
      return !(changed && same(now, wanted));
    case 'has_a_value':
      return hasValue(now);
    case 'not_has_a_value':
      return !hasValue(now);
    case 'contains':
      return contains(now, wanted);
    case 'not_contains':
      return !contains(now, wanted);
    case 'in':
      return Array.isArray(wanted) && wanted.some((w) => same(now, w));
    case 'not_in':
      return !(Array.isArray(wanted) && wanted.some((w) => same(now, w)));
    case 'gt':
      return compare(now, wanted, (a, b) => a > b);
    case 'gte':
      return compare(now, wanted, (a, b) => a >= b);
    case 'lt':
      return compare(now, wanted, (a, b) => a < b);
    case 'lte':
      return compare(now, wanted, (a, b) => a <= b);
    default:
      return false;
  }
}

/** `incident.severity_code`, `properties.x` and `severity_code` all name a field of the object. */
function fieldName(raw: string, typeName: string): string {
  return raw.startsWith(`${typeName}.`) ? raw.slice(typeName.length + 1) : raw;
}

/** A field's value: top level for built-ins, under `properties` for custom fields. */
function read(object: Record<string, unknown>, name: string): unknown {
  if (name.startsWith('properties.')) return (object['properties'] as Record<string, unknown> | undefined)?.[name.slice('properties.'.length)];
  if (name in object) return object[name];
  return (object['properties'] as Record<string, unknown> | undefined)?.[name];
}

/** A condition value in stored form: select labels become ids. */
function canonical(value: unknown, type: TypeDef, name: string): unknown {
  const field = type.fields[name.replace(/^properties\./, '')];
  if (!field || field.values.length === 0) return value;
  const one = (v: unknown) => field.values.find((s) => s.label === v)?.value ?? v;
  return Array.isArray(value) ? value.map(one) : one(value);
}

function same(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return a == b;
  return typeof a === 'object' || typeof b === 'object' ? isDeepStrictEqual(a, b) : String(a) === String(b);
}

function contains(haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((h) => same(h, needle));
  if (typeof haystack === 'string' && needle !== undefined && needle !== null) return haystack.includes(String(needle));
  return false;
}

function compare(a: unknown, b: unknown, test: (a: number, b: number) => boolean): boolean {
  const x = Number(a);
  const y = Number(b);
  return a !== null && a !== undefined && Number.isFinite(x) && Number.isFinite(y) && test(x, y);
}
