/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence for one JSON
 * value, so a signature made over it can be checked after the record has been
 * stored, parsed and re-serialised by any JSON library.
 */

/** A value that has no JSON form (NaN, Infinity, a bigint, a function, a cycle). */
export class CanonicalJsonError extends TypeError {
  override name = 'CanonicalJsonError';
  constructor(
    /** Where the value is, as a JSON path (`$.steps[2].output.n`). */
    readonly path: string,
    reason: string,
  ) {
    super(`cannot canonicalise ${path}: ${reason}`);
  }
}

/**
 * Serialises a JSON value the RFC 8785 way: no whitespace, object members
 * sorted by the UTF-16 code units of their names, numbers in ECMAScript form
 * (`1e+30`, `4.5`, `-0` → `0`), strings escaped as `JSON.stringify` does.
 *
 * It follows `JSON.stringify` wherever RFC 8785 leaves room, so that
 * `canonicalJson(x) === canonicalJson(JSON.parse(JSON.stringify(x)))` — the
 * property signature verification needs: `undefined` object members are
 * left out, `undefined` array items become `null`, `toJSON()` is honoured.
 * Unlike `JSON.stringify`, values JSON cannot carry are refused instead of
 * being turned into `null` or dropped, because a signed record must mean what
 * its producer held.
 *
 * Lone UTF-16 surrogates are written `\udxxx`, as `JSON.stringify` does; RFC
 * 8785 expects I-JSON input without them, but refusing would leave a record
 * unsigned because of one odd character in text received from elsewhere.
 *
 * @throws {CanonicalJsonError} NaN, ±Infinity, bigint, function, symbol, or a cycle.
 *
 * @example
 * canonicalJson({ b: [1e30, 4.50, -0], a: 'é' }); // '{"a":"é","b":[1e+30,4.5,0]}'
 */
export function canonicalJson(value: unknown): string {
  return write(value, [], new Set());
}

/** One member of a canonical object: its name, and `"name":value` as RFC 8785 writes it. */
export interface CanonicalMember {
  key: string;
  text: string;
}

/**
 * The members of a plain object, canonicalised and in RFC 8785 order, so a
 * caller can write the object with and without one member (a record and
 * the bytes its signature covers) while serialising it once.
 * `joinMembers(canonicalMembers(x)) === canonicalJson(x)`.
 *
 * @throws {CanonicalJsonError} as {@link canonicalJson}.
 */
export function canonicalMembers(value: Record<string, unknown>): CanonicalMember[] {
  const members: CanonicalMember[] = [];
  const ancestors = new Set<object>([value]);
  for (const key of Object.keys(value).sort()) {
    const member = value[key];
    if (member === undefined) continue;
    members.push({ key, text: quote(key) + ':' + write(member, [key], ancestors) });
  }
  return members;
}

/** `{member,member…}`: the canonical object made of `members`, which must be in order. */
export function joinMembers(members: readonly CanonicalMember[]): string {
  let out = '{';
  for (let i = 0; i < members.length; i++) out += (i > 0 ? ',' : '') + members[i]!.text;
  return out + '}';
}

/** Adds `member` to canonically ordered `members` at its place (UTF-16 order of names); returns a new list. */
export function withMember(members: readonly CanonicalMember[], member: CanonicalMember): CanonicalMember[] {
  const at = members.findIndex((m) => m.key > member.key);
  return at < 0 ? [...members, member] : [...members.slice(0, at), member, ...members.slice(at)];
}

/** A member `"key":value` for {@link withMember}. */
export function canonicalMember(key: string, value: unknown): CanonicalMember {
  return { key, text: quote(key) + ':' + write(value, [key], new Set()) };
}

/**
 * `where` is the path from the root, kept as a stack and turned into text
 * only for an error: building it for every member would double the cost.
 */
function write(value: unknown, where: Array<string | number>, ancestors: Set<object>): string {
  value = toJsonValue(value, where);
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // JSON.stringify of a finite number is ECMAScript Number::toString,
      // which is exactly RFC 8785 section 3.2.2.3 (and writes -0 as 0).
      if (!Number.isFinite(value)) throw new CanonicalJsonError(jsonPath(where), `${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(jsonPath(where), `a ${typeof value} has no JSON form`);
  }
  if (value === null) return 'null';
  if (ancestors.has(value)) throw new CanonicalJsonError(jsonPath(where), 'the value contains itself');
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      // As JSON.stringify does: an array keeps its length, holes read as null.
      if (item === undefined) {
        out += 'null';
      } else {
        where.push(i);
        out += write(item, where, ancestors);
        where.pop();
      }
    }
    out += ']';
  } else {
    const record = value as Record<string, unknown>;
    // Array.prototype.sort compares strings by UTF-16 code units: the order
    // RFC 8785 section 3.2.3 asks for (not by code point, not by locale).
    const keys = Object.keys(record).sort();
    out = '{';
    for (const key of keys) {
      const member = record[key];
      if (member === undefined) continue;
      if (out.length > 1) out += ',';
      where.push(key);
      out += quote(key) + ':' + write(member, where, ancestors);
      where.pop();
    }
    out += '}';
  }
  ancestors.delete(value);
  return out;
}

// Characters JSON.stringify escapes: quote, backslash, controls, and surrogates (escaped when lone).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON.stringify writes it; most strings need no escaping, and skipping the call is measurably faster. */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"';
}

/** Applies `toJSON()` (Date and friends) the way JSON.stringify would. */
function toJsonValue(value: unknown, where: Array<string | number>): unknown {
  if (typeof value === 'bigint') throw new CanonicalJsonError(jsonPath(where), 'a bigint has no exact JSON number form');
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(): unknown }).toJSON();
  }
  return value;
}

function jsonPath(where: Array<string | number>): string {
  return '$' + where.map((step) => (typeof step === 'number' ? `[${step}]` : `.${step}`)).join('');
}
