/**
 * Step 2, primary authentication by password: the sign-in form's post (AD FS field names UserName, Password,
 * AuthState). Login CSRF is checked first (corpus C5.1), then the request's methods, the per-request attempt limit,
 * and the shared credential step with smart lockout (authn/password.ts). A wrong password shows the form again with
 * one generic message (C2.1); an expired or must-change password goes to the password update step.
 */
import type { Request, Response } from 'express';
import { AuthMethods } from '../../claims/types.ts';
import { authenticateWithPassword } from '../../authn/password.ts';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { GENERIC_FAILURE, sendSignInPage } from './page.ts';
import { offerPasswordChange } from './password-update.ts';
import { Msg } from '../../i18n/msg.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import {
  allows,
  checkFormBinding,
  countAttempt,
  HANDLE,
  loadPending,
  updatePending,
  type PendingSignIn,
} from './pending.ts';
import { proceed } from './steps.ts';

/** Whether a form post is a credentials post (it carries the pending sign-in's handle). */
export function isCredentialsPost(body: unknown): boolean {
  return param(body, 'AuthState', 64) !== undefined;
}

/**
 * Whether this form asks to keep the sign-in ("Keep me signed in"), where the admin offers it. The last form the
 * user sent decides: a box ticked on the user-name page and unticked on the password page is not kept.
 */
function kmsi(s: Services, body: unknown): boolean {
  if (!s.config.branding.signIn.keepMeSignedIn) return false;
  return param(body, 'Kmsi', 8) === 'true';
}

/** The pending sign-in with the user's Keep me signed in choice recorded (later steps, such as MFA, read it). */
function withKmsi(pending: PendingSignIn, kept: boolean): PendingSignIn {
  const { kmsi: _previous, ...rest } = pending;
  return kept ? { ...rest, kmsi: true } : rest;
}

/** The first page of a paginated sign-in: remember the user name (and the box), show that user's methods. */
async function userNamePost(
  s: Services,
  res: Response,
  body: unknown,
  p: { pendingId: string; pending: PendingSignIn; rp: RelyingParty },
): Promise<void> {
  const username = (param(body, 'UserName', 1024) ?? '').trim();
  // eslint-disable-next-line no-control-regex -- a user name never holds control characters
  if (username === '' || username.length > 256 || /[\u0000-\u001f\u007f]/.test(username)) {
    sendSignInPage(s, res, { ...p, error: new Msg('msg.enterUserName') });
    return;
  }
  const pending: PendingSignIn = {
    ...withKmsi(p.pending, kmsi(s, body)),
    username,
    identified: true,
  };
  await updatePending(s, p.pendingId, pending);
  sendSignInPage(s, res, { ...p, pending });
}

export async function passwordPost(s: Services, req: Request, res: Response): Promise<void> {
  const body: unknown = req.body;
  const pendingId = param(body, 'AuthState', 64) ?? '';
  if (!HANDLE.test(pendingId))
    throw new FederationError('bad_request', 'The sign-in form is malformed.');
  const { pending, rp } = await loadPending(s, pendingId);
  checkFormBinding(s, req, res, pending);
  if (!allows(pending, 'password')) {
    throw new FederationError(
      'bad_request',
      'This application requires signing in with a certificate (smart card).',
      { detail: 'password post for a request that accepts only certificate sign-in' },
    );
  }
  // Paginated sign-in (branding.signIn.paginated): the first page only names the user; nothing is checked yet, so
  // it tells nobody whether the account exists (corpus C2.1).
  // AuthMethod is otherwise informational (AD FS's form sends FormsAuthentication): only this exact value counts.
  if (
    typeof body === 'object' &&
    body !== null &&
    'AuthMethod' in body &&
    body.AuthMethod === 'Identify'
  ) {
    await userNamePost(s, res, body, { pendingId, pending, rp });
    return;
  }
  await countAttempt(s, pendingId);

  const username = param(body, 'UserName', 1024) ?? '';
  const password = param(body, 'Password', 1024) ?? '';
  const result = await authenticateWithPassword(s, {
    username,
    password,
    clientIp: req.ip ?? '',
    forwardedIps: req.ips,
    activityId: res.locals.activityId,
    relyingParty: rp.identifier,
    method: 'forms',
  });
  if (!result.ok) {
    // Expired / must-change password (532/773): step 3, the protected change-password page.
    if (await offerPasswordChange(s, req, res, { pendingId, pending, rp, username, result }))
      return;
    if (result.kind === 'unavailable') {
      throw new FederationError(
        'directory_unavailable',
        'The sign-in service cannot check your password right now. Try again in a few minutes.',
        { detail: result.reason },
      );
    }
    sendSignInPage(s, res, {
      pendingId,
      pending,
      rp,
      error: GENERIC_FAILURE,
      username: username.length <= 256 ? username : '',
    });
    return;
  }
  // The choice on this form is the one that counts; recorded before the next step, which may reload the record.
  const kept = kmsi(s, body);
  const current = withKmsi(pending, kept);
  if (kept !== (pending.kmsi === true)) await updatePending(s, pendingId, current);
  await proceed(
    {
      s,
      req,
      res,
      rp,
      request: current,
      ask: pending.mfaAsk,
      pendingId,
      user: result.user,
      fresh: {
        authMethod: AuthMethods.password,
        authInstant: s.clock.now(),
        persistent: kept,
      },
    },
    'additional',
  );
}
