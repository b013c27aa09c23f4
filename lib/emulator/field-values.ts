import { PlatformError } from './errors.js';
import type { FieldDef } from './model.js';

/** How strictly values are read. */
export interface ValueOptions {
  /**
   * Accept a select value's label ("High") as well as its id. The emulated UI
   * (trigger) does; the REST API, like the platform's, wants ids.
   */
  allowLabels?: boolean;
}

/**
 * Checks a value against its field's definition and returns it in the form
 * the platform stores: select values as their id, `null` for "no value".
 * Throws a 400 naming the field when the value does not fit.
 *
 * @example
 * normaliseFieldValue(severityField, 'High', { allowLabels: true }); // 6
 */
export function normaliseFieldValue(field: FieldDef, input: unknown, options: ValueOptions = {}): unknown {
  if (input === undefined || input === null) return null;
  const wrong = (expected: string) =>
    PlatformError.badRequest(`field "${field.name}": ${JSON.stringify(input)} is not ${expected}`);
  switch (field.input_type) {
    case 'select':
      return selectValue(field, input, options);
    case 'multiselect': {
      if (!Array.isArray(input)) throw wrong('a list of values');
      return input.map((v) => selectValue(field, v, options));
    }
    case 'number':
      if (typeof input !== 'number' || !Number.isFinite(input)) throw wrong('a number');
      return input;
    case 'boolean':
      if (typeof input !== 'boolean') throw wrong('true or false');
      return input;
    case 'date':
    case 'datetimepicker':
      if (typeof input !== 'number' || !Number.isInteger(input)) throw wrong('a date in ms since the epoch');
      return input;
    case 'textarea':
      // Rich text arrives as {format, content}; plain strings are fine too.
      if (typeof input === 'string') return input;
      if (typeof input === 'object' && typeof (input as { content?: unknown }).content === 'string') return input;
      throw wrong('text');
    case 'text':
      if (typeof input !== 'string') throw wrong('text');
      return input;
  }
}

/** True when a value counts as filled in for a required field. */
export function hasValue(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object' && 'content' in value) return hasValue((value as { content: unknown }).content);
  return true;
}

function selectValue(field: FieldDef, input: unknown, options: ValueOptions): number | string {
  // Ids compare as strings so "6" and 6 mean the same choice; the stored id keeps its type.
  const byId = field.values.find((v) => String(v.value) === String(input));
  if (byId && (typeof input === 'number' || typeof input === 'string')) return byId.value;
  if (options.allowLabels && typeof input === 'string') {
    const byLabel =
      field.values.find((v) => v.label === input) ?? field.values.find((v) => v.label.toLowerCase() === input.toLowerCase());
    if (byLabel) return byLabel.value;
  }
  const choices = field.values.map((v) => `${v.value} ${v.label}`).join(', ');
  throw PlatformError.badRequest(`field "${field.name}": ${JSON.stringify(input)} is not one of its values (${choices})`);
}
