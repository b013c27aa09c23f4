/**
 * An error whose message is meant for the analyst who ran the action; it
 * becomes the error reply's text as it is.
 *
 * @example
 * throw new ActionError('user jdoe does not exist in the directory');
 */
export class ActionError extends Error {
  override name = 'ActionError';
}

/** A handler ran past its time limit. */
export class HandlerTimeoutError extends Error {
  override name = 'HandlerTimeoutError';
  constructor(readonly ms: number) {
    super(`handler did not finish within ${ms} ms`);
  }
}
