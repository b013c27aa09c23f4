import type { z } from 'zod';

/**
 * The error body the platform's REST API answers with. Processors (and
 * cafkit's REST client) read `message` and `error_code`, so the emulator
 * answers in exactly this shape.
 */
export interface PlatformErrorBody {
  success: false;
  title: null;
  message: string;
  hints: string[];
  error_code: string;
}

/**
 * An error the emulator answers with a status code and the platform's error
 * body. Thrown by the store, auth and the trigger side; the HTTP layer turns
 * it into a response, `handle.trigger()` rejects with it.
 *
 * @example
 * throw PlatformError.notFound('incident 99');
 * // → 404 {"success":false,"title":null,"message":"incident 99 was not found","hints":[],"error_code":"not_found"}
 */
export class PlatformError extends Error {
  override name = 'PlatformError';

  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }

  /** The body sent to the client. */
  toBody(): PlatformErrorBody {
    return { success: false, title: null, message: this.message, hints: [], error_code: this.errorCode };
  }

  /** 400: the request names something wrong; the message names the field. */
  static badRequest(message: string): PlatformError {
    return new PlatformError(400, 'validation_error', message);
  }

  /** 401: no valid session or API key. Never echoes what was sent. */
  static unauthenticated(message = 'authentication required'): PlatformError {
    return new PlatformError(401, 'unauthenticated', message);
  }

  /** 403: authenticated, but not a member of the organisation asked for. */
  static forbidden(message: string): PlatformError {
    return new PlatformError(403, 'forbidden', message);
  }

  /** 404: an unknown object; `what` is e.g. `incident 99`. */
  static notFound(what: string): PlatformError {
    return new PlatformError(404, 'not_found', `${what} was not found`);
  }

  /** 409: a stale `vers` or a name that is already taken. */
  static conflict(message: string): PlatformError {
    return new PlatformError(409, 'conflict', message);
  }

  /** 503: the emulator cannot do it right now (e.g. no broker configured). */
  static unavailable(message: string): PlatformError {
    return new PlatformError(503, 'service_unavailable', message);
  }
}

/**
 * Parses a request body with a zod schema, turning failures into a 400 whose
 * message names every offending field (`field "severity_code": ...`), which
 * is what a developer needs to fix an install script.
 *
 * @example
 * const body = parseBody(IncidentCreateSchema, json, 'incident');
 */
export function parseBody<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.map(String).join('.');
    // zod's wording for an absent key is "expected string, received undefined".
    const message = /received undefined$/.test(issue.message) ? 'is required' : issue.message;
    return field ? `field "${field}": ${message}` : message;
  });
  return throwBadRequest(`invalid ${what}: ${problems.join('; ')}`);
}

function throwBadRequest(message: string): never {
  throw PlatformError.badRequest(message);
}
