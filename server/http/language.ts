/**
 * The language picker's target (issue 17): GET /adfs/portal/language?lang=de&return=/adfs/ls/?… remembers the
 * choice in a cookie for a year and sends the browser back to the page it came from. The return address must be a
 * path of ours under /adfs/ (never another site: an open redirect here would lend our name to phishing), and the
 * language must be one there is a catalogue for; anything else is a clear 400.
 */
import express, { type Router } from 'express';
import { FederationError } from '../lib/errors.ts';
import { LANGUAGE_COOKIE } from '../i18n/negotiate.ts';
import { setCookie } from './cookies.ts';
import { noStore, param } from './middleware.ts';
import type { Views } from './views.ts';

const ONE_YEAR = 365 * 24 * 3600;

/** A same-origin path under /adfs/ (no scheme, no authority, no backslash tricks, no control characters). */
export function isLocalReturn(v: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters never belong in a return path
  if (v.length > 4096 || /[\\\u0000-\u001f\u007f]/.test(v)) return false;
  if (!v.startsWith('/adfs/') || v.startsWith('//')) return false;
  try {
    // Resolved against a fixed origin, the address must stay on it and under /adfs/ (dot segments such as
    // /adfs/../x leave it).
    const u = new URL(v, 'https://fedgate.invalid');
    return u.origin === 'https://fedgate.invalid' && u.pathname.startsWith('/adfs/');
  } catch {
    return false;
  }
}

export function languageRouter(views: Views): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  router.get('/', noStore, (req, res, next) => {
    const lang = param(req.query, 'lang', 35) ?? '';
    const back = param(req.query, 'return', 4096) ?? '';
    const locale = views.catalogues.best(lang);
    if (locale === undefined) {
      next(new FederationError('bad_request', 'This language is not available.'));
      return;
    }
    if (!isLocalReturn(back)) {
      next(new FederationError('bad_request', 'The return address is not a page of this service.'));
      return;
    }
    setCookie(res, LANGUAGE_COOKIE, locale, ONE_YEAR);
    res.redirect(303, back);
  });
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET.'));
  });
  return router;
}
