import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';
import { FederationError } from '../lib/errors.ts';
import type { Views } from './views.ts';

const HEADINGS: Record<number, string> = {
  400: 'The request could not be completed',
  401: 'Sign-in failed',
  403: 'Access denied',
  404: 'Page not found',
  405: 'Method not allowed',
  413: 'The request is too large',
  414: 'The request address is too long',
  503: 'The service is temporarily unavailable',
};

/** Errors from body parsers and other middleware, by their `type`, mapped to our codes. */
function fromMiddleware(err: unknown): FederationError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { type?: unknown; status?: unknown };
  if (e.type === 'entity.too.large')
    return new FederationError('payload_too_large', 'The request is too large.');
  if (e.type === 'parameters.too.many')
    return new FederationError('payload_too_large', 'The request has too many parameters.');
  if (
    typeof e.type === 'string' &&
    typeof e.status === 'number' &&
    e.status >= 400 &&
    e.status < 500
  ) {
    return new FederationError('bad_request', 'The request could not be read.', {
      status: e.status === 415 ? 415 : 400,
      detail: e.type,
    });
  }
  if (e.status === 404)
    return new FederationError('not_found', 'There is no page at this address.');
  return undefined;
}

/**
 * The edge renderer: the only place errors become pages. Known errors (FederationError, or a body parser's
 * refusal) show their safe message; anything else is a programming error: a generic 500 page, logged at error
 * level with the stack. Every page carries the activity id; no stack trace, DC name or LDAP text is ever
 * rendered (corpus C5.5), and nothing is sent to a relying party from here.
 */
export function errorRenderer(deps: {
  views: Views;
  log: Logger;
  clock: Clock;
}): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const fe = err instanceof FederationError ? err : fromMiddleware(err);
    const activityId = res.locals.activityId;
    const status = fe?.status ?? 500;
    if (fe === undefined) {
      deps.log.error({ err, activityId, path: req.path }, 'request failed: programming error');
    } else if (status >= 500) {
      deps.log.error({ err, activityId, path: req.path, code: fe.code }, 'request failed');
    } else {
      deps.log.info({ activityId, path: req.path, code: fe.code, detail: fe.detail }, fe.message);
    }
    const message =
      fe?.expose === true
        ? fe.message
        : 'An error occurred. Contact your administrator for more information.';
    res.status(status);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(
      deps.views.page('error', 'Error', {
        heading: HEADINGS[status] ?? 'An error occurred',
        message,
        activityId,
        time: deps.clock.now().toISOString(),
        code: fe?.code ?? 'internal',
      }),
    );
  };
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new FederationError('not_found', 'There is no page at this address.'));
};
