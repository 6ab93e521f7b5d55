import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Random } from '../lib/random.ts';
import { FederationError } from '../lib/errors.ts';

declare module 'express-serve-static-core' {
  interface Locals {
    activityId: string;
  }
}

/** Every request gets an activity id: shown on error pages, logged, returned in X-Activity-Id. */
export function activityId(random: Random): RequestHandler {
  return (_req, res, next) => {
    res.locals.activityId = random.uuid();
    res.setHeader('X-Activity-Id', res.locals.activityId);
    next();
  };
}

/** Default CSP for every page: no script at all, forms post only to ourselves, never framed (corpus C5.3/C5.4). */
// script-src 'self': fedgate's own page scripts only (views/theme: the Caps Lock hint, WebAuthn); never inline script
// and never an admin's (themes serve no scripts: AD FS's OnLoadScript is not offered, issue 17).
export const BASE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HSTS = 'max-age=31536000; includeSubDomains';

export function securityHeaders(): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: false, // set below, and per page where a token form needs its own form-action
      strictTransportSecurity: false, // set below, only over https
      frameguard: { action: 'deny' },
      // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on our own form posts, which
      // would defeat the Origin check; same-origin still never leaks the sign-in URL (wctx, hints) to other sites.
      referrerPolicy: { policy: 'same-origin' },
      crossOriginEmbedderPolicy: false,
    }),
    (req, res, next) => {
      res.setHeader('Content-Security-Policy', BASE_CSP);
      // HSTS (AD FS default max-age, corpus C5.3) only on a secure response: over our own TLS, or behind a trusted
      // proxy that says the client used https (X-Forwarded-Proto; `trust proxy` decides whom to believe).
      // RFC 6797 §7.2: a host MUST NOT send it over plain HTTP.
      if (req.secure) res.setHeader('Strict-Transport-Security', HSTS);
      // Pages carry per-user state (forms with CSRF tokens, tokens, errors): never cached. Routes that may be
      // cached (metadata, MEX, theme files) set their own Cache-Control after this.
      res.setHeader('Cache-Control', 'no-store');
      next();
    },
  ];
}

/** CSP for the token auto-POST page: only the nonce'd submit script runs, and the form may post only to the reply origin. */
export function formPostCsp(res: Response, replyUrl: string): string {
  const nonce = randomBytes(16).toString('base64');
  const origin = new URL(replyUrl).origin;
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'self'; script-src 'nonce-${nonce}'; form-action ${origin}; frame-ancestors 'none'; base-uri 'none'`,
  );
  return nonce;
}

export const MAX_URL_BYTES = 8192;

/** Refuses oversize URLs (414) before any parsing (corpus B1.5). */
export const urlGuard: RequestHandler = (req, _res, next) => {
  if (req.originalUrl.length > MAX_URL_BYTES) {
    next(new FederationError('uri_too_long', 'The request address is too long.'));
    return;
  }
  next();
};

/** Responses that may carry tokens or personal data are never cached. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  next();
};

/**
 * One string parameter from query or body. Repeated parameters (arrays), objects and over-long values are
 * refused rather than guessed at: a parameter given twice is a classic parser-differential trick.
 */
export function param(source: unknown, name: string, maxLength = 4096): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const v = (source as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string')
    throw new FederationError(
      'bad_request',
      `The parameter ${name} was given more than once or in an unsupported form.`,
      { textKey: 'msg.parameterRepeated', textArgs: { name } },
    );
  if (v.length > maxLength)
    throw new FederationError('bad_request', `The parameter ${name} is too long.`, {
      textKey: 'msg.parameterTooLong',
      textArgs: { name },
    });
  return v;
}

/** Wraps an async handler so rejections reach the error renderer (express 5 does this too; kept explicit). */
export function route(
  fn: (req: Request, res: Response, next: NextFunction) => Promise<void>,
): RequestHandler {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}
