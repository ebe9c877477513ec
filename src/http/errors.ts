import type { Middleware } from 'koa';
import { DomainError, type RefusalKind } from '../commands/DomainError.ts';
import { EventStoreError } from '../eventstore/errors.ts';

/** An error whose status, code and message the client may see; everything else is a 500 with no details. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The one place errors become the contract's `{detail, code}` JSON; a stack trace never leaves the process. */
export function errorHandler(log: { error(obj: object, msg: string): void }): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, 'not_found', 'Not found.');
    } catch (error) {
      const known = toHttpError(error);
      if (known.status >= 500) log.error({ err: error, path: ctx.path }, 'request failed');
      ctx.status = known.status;
      ctx.body = { detail: known.message, code: known.code, ...known.extra };
    }
  };
}

const STATUS: Record<RefusalKind, number> = { invalid: 400, forbidden: 403, not_found: 404, conflict: 409, not_acceptable: 406 };

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof DomainError) return new HttpError(STATUS[error.kind], error.code, error.message);
  // a command that kept losing races for its stream: the client may simply retry
  if (error instanceof EventStoreError && (error.code === 'wrong_expected_revision' || error.code === 'append_contention')) {
    return new HttpError(409, 'concurrent_change', 'The data changed under this request; retry it.');
  }
  if (isUnavailable(error)) return new HttpError(503, 'service_unavailable', 'A backing service is unavailable; retry shortly.');
  // errors koa and its body parser raise for the client's own mistakes (bad JSON, too large)
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    return new HttpError(status, code, (error as Error).message);
  }
  return new HttpError(500, 'internal_error', 'Internal server error.');
}

/** Connection failures to Postgres or the event store, as opposed to bugs. */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '53300'].includes(code) || code.startsWith('08'));
}
