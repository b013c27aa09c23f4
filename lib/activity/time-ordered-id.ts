import { randomUUID } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds,
 * then random bits. Ids made later sort later, so a database index on them
 * grows at its end instead of touching a random page per insert; with
 * random (v4) ids, the record and execution id indexes halved SQLite's
 * insert rate. Not secret and not a counter: ids of one millisecond are in
 * random order among themselves.
 *
 * @example
 * uuidv7(); // '019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b'
 */
export function uuidv7(now: number = Date.now()): string {
  // randomUUID draws from a cached pool of random bytes: cheaper than randomBytes(10) and formatting.
  // Its version nibble (index 14) becomes 7; its variant bits (index 19) are already RFC 9562's.
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
