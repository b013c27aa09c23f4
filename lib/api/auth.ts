import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { ApiConfigSchema } from '../config/schema.js';
import { registerSecret } from '../log/redact.js';

/** A scope a token grants. */
export type ApiScope = 'read' | 'read:sensitive';

/** Who a request is: the token's name and scopes. */
export interface ApiPrincipal {
  name: string;
  scopes: readonly ApiScope[];
}

/** The WebSocket subprotocol that carries a bearer token (browsers cannot set headers on a WebSocket). */
export const BEARER_SUBPROTOCOL_PREFIX = 'cafkit.bearer.';
/** The subprotocol the server answers with. */
export const STREAM_SUBPROTOCOL = 'cafkit.v1';

/**
 * Checks bearer tokens in constant time. Tokens are compared as SHA-256
 * digests with `timingSafeEqual`, so neither the length nor the first
 * differing byte shows in the timing.
 *
 * @example
 * const auth = ApiAuth.fromConfig(config.api, home, log);
 * const who = auth.check(req.headers.authorization); // undefined: 401
 */
export class ApiAuth {
  private readonly tokens: Array<{ digest: Buffer; principal: ApiPrincipal }>;

  constructor(
    tokens: ReadonlyArray<{ name: string; token: string; scopes: readonly ApiScope[] }>,
    /** false: every request is let in with every scope (development only). */
    readonly required = true,
  ) {
    this.tokens = tokens.map((t) => {
      registerSecret(t.token);
      return { digest: digest(t.token), principal: { name: t.name, scopes: t.scopes } };
    });
  }

  /**
   * The configured tokens; with `auth` on and none configured, a generated
   * one kept in `<home>/api-token` (0600, both scopes), made once.
   */
  static fromConfig(api: z.infer<typeof ApiConfigSchema>, home: string): { auth: ApiAuth; generatedFile?: string } {
    if (!api.auth) return { auth: new ApiAuth([], false) };
    if (api.tokens.length > 0) return { auth: new ApiAuth(api.tokens) };
    const file = path.join(home, 'api-token');
    if (!existsSync(file)) {
      mkdirSync(home, { recursive: true });
      writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    }
    const token = readFileSync(file, 'utf8').trim();
    return { auth: new ApiAuth([{ name: 'generated', token, scopes: ['read', 'read:sensitive'] }]), generatedFile: file };
  }

  /** The principal of an `Authorization: Bearer <token>` header, or `undefined`. */
  check(authorization: string | undefined): ApiPrincipal | undefined {
    if (!this.required) return { name: 'anonymous (auth disabled)', scopes: ['read', 'read:sensitive'] };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return match ? this.checkToken(match[1]!) : undefined;
  }

  /**
   * The principal of an `Authorization: Basic` header whose password is a
   * token (the user name is not checked), or `undefined`. Only the
   * dashboard's page takes it: a browser cannot send a bearer token when it
   * navigates, but it asks for Basic credentials and sends them itself.
   */
  checkBasic(authorization: string | undefined): ApiPrincipal | undefined {
    const token = basicPassword(authorization);
    return token === undefined ? (this.required ? undefined : this.check(undefined)) : this.checkToken(token);
  }

  /** The principal of a bare token, or `undefined`. */
  checkToken(token: string): ApiPrincipal | undefined {
    if (!this.required) return this.check(undefined);
    const given = digest(token);
    let found: ApiPrincipal | undefined;
    // Every token is compared, found or not, so the time does not say which matched.
    for (const t of this.tokens) if (timingSafeEqual(given, t.digest)) found = t.principal;
    return found;
  }
}

/** The password of an `Authorization: Basic` header, or `undefined`. */
export function basicPassword(authorization: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
