/**
 * GET /adfs/ls/?AuthState=<handle>: the current page of a pending sign-in, shown again (issue 17). What needs it:
 * - the language picker, which sends the browser back to a GET address after remembering the choice (a page that
 *   answered a POST, such as a wrong password, has no address of its own);
 * - "Sign in with a different account" (`&SwitchUser=1`), which forgets the user name the party hinted or the user
 *   gave on the first page of a paginated sign-in (and a second-factor step begun for that account).
 * Only the browser the sign-in belongs to may do either: the sign-in cookie must match (as for every form of it;
 * corpus C5.1). Nothing is authenticated here, and the page has the same anti-CSRF token as before.
 */
import type { Request, Response } from 'express';
import { readCookie, SIGNIN_COOKIE } from '../../http/cookies.ts';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { showMfa } from './mfa-page.ts';
import { sendSignInPage } from './page.ts';
import { expired, HANDLE, loadPending, safeEqual, updatePending } from './pending.ts';

/** Whether a GET to /adfs/ls/ resumes a pending sign-in (and carries no protocol message). */
export function isResume(q: unknown): boolean {
  return (
    param(q, 'AuthState', 64) !== undefined &&
    param(q, 'wa', 64) === undefined &&
    param(q, 'SAMLRequest', 16) === undefined &&
    param(q, 'SAMLResponse', 16) === undefined
  );
}

export async function resumeSignIn(s: Services, req: Request, res: Response): Promise<void> {
  const id = param(req.query, 'AuthState', 64) ?? '';
  if (!HANDLE.test(id)) throw new FederationError('bad_request', 'The sign-in form is malformed.');
  const loaded = await loadPending(s, id);
  let { pending } = loaded;
  const { rp } = loaded;
  // Stryker disable next-line StringLiteral: equivalent: any fallback that is not the random binding fails safeEqual.
  if (!safeEqual(readCookie(req, SIGNIN_COOKIE) ?? '', pending.binding)) throw expired();
  res.locals.localeHints ??= pending.localeHints;
  if (param(req.query, 'SwitchUser', 8) === '1') {
    const { username: _u, identified: _i, mfa: _m, ...rest } = pending;
    pending = rest;
    await updatePending(s, id, pending);
  }
  if (pending.mfa !== undefined) {
    const user = await s.directory.findByObjectGuid(Buffer.from(pending.mfa.user, 'base64'));
    if (user?.enabled !== true) throw expired();
    await showMfa(s, req, res, {
      pendingId: id,
      pending: { ...pending, mfa: pending.mfa },
      rp,
      user,
    });
    return;
  }
  sendSignInPage(s, res, { pendingId: id, pending, rp });
}
