/** Keys whose values never reach a log line. */
const SECRET_KEY = /pass(word|code|phrase)?|secret|token|authorization|cookie|csrf|sess-id|api_key_secret/i;

/** Secret values registered at start-up (passwords, API secrets), scrubbed from any text. */
const knownSecrets = new Set<string>();

/** Registers a value that must never appear in a log line. Short values are ignored to avoid scrubbing ordinary words. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) knownSecrets.add(value);
}

/** Replaces every registered secret in `text`. */
export function scrub(text: string): string {
  let result = text;
  for (const secret of knownSecrets) if (result.includes(secret)) result = result.split(secret).join('[redacted]');
  return result;
}

/**
 * A copy of `value` with secret-named keys replaced and registered secret
 * values scrubbed from strings. Handles cycles and errors.
 */
export function redact(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
  if (Array.isArray(value)) return value.map((item) => redact(item, seen));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && item !== undefined && item !== null && typeof item !== 'boolean' ? '[redacted]' : redact(item, seen);
  }
  return out;
}
