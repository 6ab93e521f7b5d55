/**
 * Step 3, password update, and the change-password pages (AD FS path /adfs/portal/updatepassword/):
 * - in a sign-in: the credential step found an expired (532) or must-change (773) password; the user is shown this
 *   page instead of the generic failure, changes the password, and goes back to the same pending sign-in;
 * - on its own: GET /adfs/portal/updatepassword/ for users who want to change their password.
 * Both are CSRF-protected (form token bound to a __Host- cookie, Origin check), rate-limited per source and per
 * form, and share the account's smart-lockout counters (authn/password-change.ts, corpus C1.8, C1.9).
 */
import express, { type Request, type Response, type Router } from 'express';
import { changePasswordProtected, POLICY_MESSAGES } from '../../authn/password-change.ts';
import type { AuthResult } from '../../directory/types.ts';
import { readCookie, setCookie, SIGNIN_COOKIE } from '../../http/cookies.ts';
import { noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import { sendSignInPage } from './page.ts';
import { HANDLE, partyOf, safeEqual, type PendingSignIn } from './pending.ts';
import * as audit from '../../observability/audit.ts';

interface ChangeTicket {
  mode: 'signin' | 'portal';
  csrf: string;
  binding: string;
  /** signin mode: the account (as typed) and the pending sign-in to go back to. */
  username?: string | undefined;
  pendingId?: string | undefined;
  createdAt: string;
}

const MAX_ATTEMPTS_PER_TICKET = 5;
const SOURCE_WINDOW_SECONDS = 15 * 60;

const WRONG_CURRENT =
  'The user name or current password is incorrect, or the password cannot be changed now.';
const MISMATCH = 'The new passwords do not match.';
const SAME = 'The new password must be different from the current password.';

function render(
  s: Services,
  res: Response,
  id: string,
  t: ChangeTicket,
  opts: { error?: string; status?: number; username?: string } = {},
): void {
  res
    .status(opts.status ?? 200)
    .type('html')
    .send(
      s.views.page(res, 'update-password', {
        ticket: id,
        csrf: t.csrf,
        expired: t.mode === 'signin',
        fixedUsername: t.mode === 'signin',
        username: t.username ?? opts.username ?? '',
        error: opts.error,
      }),
    );
}

async function newTicket(s: Services, t: ChangeTicket): Promise<string> {
  const id = s.random.token();
  await s.store.put('passwordTicket', id, t);
  return id;
}

/**
 * Called by the credential step on a failed sign-in: for an expired or must-change password, shows the change
 * page and returns true. Anything else (or the feature off) returns false and the caller shows its generic failure.
 */
export async function offerPasswordChange(
  s: Services,
  req: Request,
  res: Response,
  o: {
    pendingId: string;
    pending: PendingSignIn;
    rp: RelyingParty;
    username: string;
    result: AuthResult;
  },
): Promise<boolean> {
  if (o.result.ok) return false;
  if (o.result.kind !== 'password_expired' && o.result.kind !== 'must_change_password')
    return false;
  if (!s.config.passwordChange.enabled || s.directory.changePassword === undefined) return false;
  const t: ChangeTicket = {
    mode: 'signin',
    csrf: s.random.token(),
    binding: o.pending.binding,
    username: o.username.slice(0, 256),
    pendingId: o.pendingId,
    createdAt: s.clock.now().toISOString(),
  };
  const id = await newTicket(s, t);
  audit.passwordChangeRequired(s.audit, {
    reason: o.result.reason,
    kind: o.result.kind,
    username: o.username.slice(0, 256),
    objectGuid: o.result.user?.objectGuid.toString('base64'),
    ip: req.ip,
    rp: o.rp.identifier,
    activityId: res.locals.activityId,
  });
  render(s, res, id, t);
  return true;
}

export function updatePasswordRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const bodyParser = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 16 });

  function notEnabled(): FederationError {
    return new FederationError('not_found', 'There is no page at this address.');
  }

  async function show(req: Request, res: Response): Promise<void> {
    if (!s.config.passwordChange.enabled || s.directory.changePassword === undefined)
      throw notEnabled();
    const binding = readCookie(req, SIGNIN_COOKIE) ?? s.random.token();
    if (!HANDLE.test(binding)) throw new FederationError('bad_request', 'The cookie is malformed.');
    setCookie(res, SIGNIN_COOKIE, binding);
    const t: ChangeTicket = {
      mode: 'portal',
      csrf: s.random.token(),
      binding,
      createdAt: s.clock.now().toISOString(),
    };
    render(s, res, await newTicket(s, t), t);
  }

  async function submit(req: Request, res: Response): Promise<void> {
    if (!s.config.passwordChange.enabled || s.directory.changePassword === undefined)
      throw notEnabled();
    const body: unknown = req.body;
    const id = param(body, 'Ticket', 64) ?? '';
    if (!HANDLE.test(id)) throw new FederationError('bad_request', 'The form is malformed.');
    const t = await s.store.find<ChangeTicket>('passwordTicket', id);
    if (t === undefined) {
      throw new FederationError(
        'session_expired',
        'This page expired. Open the password change page again.',
      );
    }
    const origin = req.headers.origin;
    const originOk = origin === undefined || origin === new URL(s.config.publicUrl).origin;
    const csrf = param(body, 'csrf', 64) ?? '';
    const binding = readCookie(req, SIGNIN_COOKIE) ?? '';
    if (!safeEqual(csrf, t.csrf) || !safeEqual(binding, t.binding) || !originOk) {
      audit.csrfRejected(s.audit, {
        form: 'update-password',
        ip: req.ip,
        activityId: res.locals.activityId,
        originOk,
      });
      throw new FederationError(
        'csrf_failed',
        'The form could not be verified. Open the password change page again.',
      );
    }
    // Rate limits: per form, and per source address across forms (the page is itself a password oracle).
    const perTicket = await s.store.incr('passwordChangeAttempts', `ticket:${id}`);
    if (perTicket > MAX_ATTEMPTS_PER_TICKET) {
      await s.store.destroy('passwordTicket', id);
      throw new FederationError(
        'session_expired',
        'Too many attempts on this page. Open the password change page again.',
      );
    }
    const bucket = Math.floor(s.clock.now().getTime() / (SOURCE_WINDOW_SECONDS * 1000));
    const perSource = await s.store.incr(
      'passwordChangeAttempts',
      `source:${req.ip ?? ''}:${bucket}`,
      SOURCE_WINDOW_SECONDS,
    );
    if (perSource > s.config.passwordChange.maxAttemptsPerSource) {
      audit.passwordChangeRateLimited(s.audit, { ip: req.ip, activityId: res.locals.activityId });
      render(s, res, id, t, {
        status: 429,
        error: 'Too many password change attempts from your network. Try again later.',
      });
      return;
    }

    const username =
      t.mode === 'signin' ? (t.username ?? '') : (param(body, 'UserName', 1024) ?? '');
    const oldPassword = param(body, 'OldPassword', 1024) ?? '';
    const newPassword = param(body, 'NewPassword', 1024) ?? '';
    const confirm = param(body, 'ConfirmNewPassword', 1024) ?? '';
    const shownName = username.length <= 256 ? username : '';
    if (newPassword !== confirm) {
      render(s, res, id, t, { error: MISMATCH, username: shownName });
      return;
    }
    if (newPassword === oldPassword) {
      render(s, res, id, t, { error: SAME, username: shownName });
      return;
    }
    const outcome = await changePasswordProtected(s, {
      username,
      password: oldPassword,
      newPassword,
      clientIp: req.ip ?? '',
      forwardedIps: req.ips,
      activityId: res.locals.activityId,
      relyingParty: '',
      method: 'password-change',
    });
    if (!outcome.ok) {
      if (outcome.kind === 'unavailable') {
        throw new FederationError(
          'directory_unavailable',
          'The password cannot be changed right now. Try again in a few minutes.',
          { detail: outcome.reason },
        );
      }
      if (outcome.kind === 'unsupported') throw notEnabled();
      const error =
        outcome.kind === 'policy' ? POLICY_MESSAGES[outcome.violation ?? 'policy'] : WRONG_CURRENT;
      render(s, res, id, t, { error, username: shownName });
      return;
    }
    await s.store.destroy('passwordTicket', id);
    // Back to the pending sign-in: its form again, for the new password (which also proves it works).
    if (t.mode === 'signin' && t.pendingId !== undefined) {
      const pending = await s.store.find<PendingSignIn>('pendingSignIn', t.pendingId);
      const rp = pending === undefined ? undefined : partyOf(s, pending);
      if (pending !== undefined && rp !== undefined) {
        sendSignInPage(s, res, {
          pendingId: t.pendingId,
          pending,
          rp,
          username: shownName,
          notice: 'Your password has been updated. Sign in with your new password to continue.',
        });
        return;
      }
    }
    res
      .status(200)
      .type('html')
      .send(s.views.page(res, 'password-updated', {}));
  }

  router.get('/', noStore, route(show));
  router.post('/', noStore, bodyParser, route(submit));
  router.all('/', (_req, _res, next) => {
    next(new FederationError('method_not_allowed', 'This address accepts only GET and POST.'));
  });
  return router;
}
