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
import { allows, checkFormBinding, countAttempt, HANDLE, loadPending } from './pending.ts';
import { proceed } from './steps.ts';

/** Whether a form post is a credentials post (it carries the pending sign-in's handle). */
export function isCredentialsPost(body: unknown): boolean {
  return param(body, 'AuthState', 64) !== undefined;
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
  await proceed(
    {
      s,
      req,
      res,
      rp,
      request: pending,
      ask: pending.mfaAsk,
      pendingId,
      user: result.user,
      fresh: { authMethod: AuthMethods.password, authInstant: s.clock.now() },
    },
    'additional',
  );
}
