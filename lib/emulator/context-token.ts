import { randomBytes } from 'node:crypto';

/**
 * A fresh `Co3ContextToken`: three base64url segments of random bytes, shaped
 * like the JWT the platform sends but meaningless, because processors must
 * treat it as opaque and only echo it as `X-Co3ContextToken`. Random from the
 * first character on, so the 6-character hint in the Action Status list
 * tells invocations apart (a real JWT header would always start `eyJhbG`).
 *
 * @example
 * newContextToken(); // 'q3Zf0cT1….Xb1v….9kTw…'
 */
export function newContextToken(): string {
  return [randomBytes(18), randomBytes(48), randomBytes(32)].map((b) => b.toString('base64url')).join('.');
}
