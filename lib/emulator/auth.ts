import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PlatformError } from './errors.js';
import type { User } from './model.js';

/** Name of the platform's session cookie. */
export const SESSION_COOKIE = 'JSESSIONID';
/** Header carrying the session's CSRF token. */
export const SESSION_HEADER = 'x-sess-id';

/** A session login the emulator accepts. */
export interface LoginCredential {
  email: string;
  password: string;
}

/** An API key the emulator accepts (HTTP Basic, key id as user name). */
export interface ApiKeyCredential {
  id: string;
  secret: string;
}

/** Who made a request, once authenticated. */
export type Principal =
  | { kind: 'session'; user: User; sessionId: string }
  | { kind: 'apikey'; keyId: string; /** Stands in for a user id on what the key creates. */ principalId: number };

/** A live session. */
export interface Session {
  sessionId: string;
  csrfToken: string;
  user: User;
}

/**
 * Session logins and API keys, checked the way the platform does: a session
 * needs BOTH its cookie and its CSRF token in `X-sess-id` (a cookie alone is
 * what a cross-site request would carry); an API key goes as HTTP Basic on
 * every request. Secrets are compared in constant time and never echoed.
 *
 * @example
 * const auth = new Auth({ users: [{ email: 'a@example.com', password: 'pw' }], apiKeys: [], resolveUser });
 * const principal = auth.authenticate(req); // throws a 401 PlatformError
 */
export class Auth {
  private readonly sessions = new Map<string, Session>();
  private readonly users: LoginCredential[];
  private readonly apiKeys: ApiKeyCredential[];
  private readonly resolveUser: (email: string) => User;

  constructor(options: { users?: LoginCredential[]; apiKeys?: ApiKeyCredential[]; resolveUser: (email: string) => User }) {
    this.users = options.users ?? [];
    this.apiKeys = options.apiKeys ?? [];
    this.resolveUser = options.resolveUser;
  }

  /** Checks a login; 401 (without saying which half was wrong) when it fails. */
  login(email: string, password: string): Session {
    const known = this.users.find((u) => u.email.toLowerCase() === email.toLowerCase());
    // Compare even for unknown users, so timing does not tell which emails exist.
    const ok = sameSecret(password, known?.password ?? randomBytes(16).toString('hex')) && known !== undefined;
    if (!ok) throw PlatformError.unauthenticated('the email or password is wrong');
    const session: Session = {
      sessionId: randomBytes(24).toString('hex'),
      csrfToken: randomBytes(24).toString('base64url'),
      user: this.resolveUser(known.email),
    };
    this.sessions.set(session.sessionId, session);
    return session;
  }

  /** True when `email` is a configured login (such a user exists on the platform even before logging in). */
  knowsLogin(email: string): boolean {
    return this.users.some((u) => u.email.toLowerCase() === email.toLowerCase());
  }

  /** True when `keyId` is a configured API key. */
  hasApiKey(keyId: string): boolean {
    return this.apiKeys.some((k) => k.id === keyId);
  }

  /** Ends every session, as the platform does when they time out; clients must log in again. */
  expireSessions(): void {
    this.sessions.clear();
  }

  /** Ends the request's session; 401 when it has none. */
  logout(req: IncomingMessage): void {
    const principal = this.authenticate(req);
    if (principal.kind !== 'session') throw PlatformError.badRequest('an API key has no session to log out of');
    this.sessions.delete(principal.sessionId);
  }

  /** The session a request belongs to (cookie and `X-sess-id` both valid). */
  session(req: IncomingMessage): Session | undefined {
    const principal = this.authenticate(req);
    return principal.kind === 'session' ? this.sessions.get(principal.sessionId) : undefined;
  }

  /**
   * Who is calling. An `Authorization: Basic` header means an API key and is
   * used alone; otherwise the session cookie plus `X-sess-id`. Throws 401.
   */
  authenticate(req: IncomingMessage): Principal {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) return this.apiKey(authorization);
    const sessionId = cookie(req.headers.cookie, SESSION_COOKIE);
    const csrf = header(req, SESSION_HEADER);
    if (sessionId === undefined && csrf === undefined) {
      throw PlatformError.unauthenticated('authentication required: log in with POST /rest/session or send an API key as HTTP Basic');
    }
    const session = sessionId !== undefined ? this.sessions.get(sessionId) : undefined;
    if (!session) throw PlatformError.unauthenticated(`no valid ${SESSION_COOKIE} session cookie: log in with POST /rest/session`);
    if (csrf === undefined) throw PlatformError.unauthenticated('the X-sess-id header is missing: send the csrf_token from the login answer');
    if (!sameSecret(csrf, session.csrfToken)) throw PlatformError.unauthenticated('the X-sess-id header does not match this session');
    return { kind: 'session', user: session.user, sessionId: session.sessionId };
  }

  private apiKey(authorization: string): Principal {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (!match) throw PlatformError.unauthenticated('the Authorization header is not HTTP Basic (expected "Basic base64(keyId:secret)")');
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const keyId = colon < 0 ? decoded : decoded.slice(0, colon);
    const secret = colon < 0 ? '' : decoded.slice(colon + 1);
    const index = this.apiKeys.findIndex((k) => k.id === keyId);
    const known = this.apiKeys[index];
    const ok = sameSecret(secret, known?.secret ?? randomBytes(16).toString('hex')) && known !== undefined;
    if (!ok) throw PlatformError.unauthenticated('the API key id or secret is wrong');
    // API keys are principals of their own; give them ids clear of user ids.
    return { kind: 'apikey', keyId, principalId: 100_000 + index };
  }
}

/** Value of a named cookie in a `Cookie` header. */
export function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Constant-time comparison of two secrets of any length (hashing evens the lengths). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
