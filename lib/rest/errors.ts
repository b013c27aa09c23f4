/** An HTTP error answer from the platform's REST API. */
export class RestError extends Error {
  override name = 'RestError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** The platform's own message, when it gave one. */
    readonly detail: string,
  ) {
    super(`${method} ${path} failed: HTTP ${status}${detail ? `: ${detail}` : ''}`);
  }
}

/** A PUT kept meeting 409 Conflict after every allowed try. */
export class ConflictError extends Error {
  override name = 'ConflictError';
  constructor(readonly path: string, readonly tries: number) {
    super(`${path} kept changing under us: gave up after ${tries} tries on HTTP 409 Conflict`);
  }
}

/** The platform could not be reached (refused, reset, timed out, TLS failure). */
export class RestUnreachableError extends Error {
  override name = 'RestUnreachableError';
  constructor(readonly method: string, readonly path: string, cause: Error) {
    super(`${method} ${path} could not reach the platform: ${cause.message}`, { cause });
  }
}
