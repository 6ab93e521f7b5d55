import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';
import { FederationError } from '../lib/errors.ts';
import { Msg, type PageText } from '../i18n/msg.ts';
import type { Views } from './views.ts';

/** Statuses with a heading of their own in the catalogue (error.heading.<status>); others get error.heading.other. */
const HEADINGS = new Set([400, 401, 403, 404, 405, 413, 414, 415, 503]);

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
    // The admin's replacements (AD FS ErrorPageGenericErrorMessage / ErrorPageAuthorizationErrorMessage) win.
    const admin = deps.views.errorTexts(res);
    const message: PageText =
      fe?.code === 'access_denied' && admin.authorization !== undefined
        ? admin.authorization
        : fe?.expose === true
          ? fe.textKey !== undefined
            ? new Msg(fe.textKey, fe.textArgs)
            : fe.message
          : (admin.generic ?? new Msg('error.generic'));
    res.status(status);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(
      deps.views.page(res, 'error', {
        heading: new Msg(
          HEADINGS.has(status) ? `error.heading.${String(status)}` : 'error.heading.other',
        ),
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
