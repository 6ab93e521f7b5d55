/**
 * Step 1, identify: a request a protocol's parser validated enters the pipeline here. A live SSO session made the
 * way the request asks answers at once (unless the request forces a prompt); a passive request without one is
 * answered by its protocol (SAML NoPassive); otherwise the request is kept server-side as a pending sign-in and the
 * sign-in page asks who the user is and for their credentials (the primary step).
 */
import type { Request, Response } from 'express';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { sendFormPost } from './form-post.ts';
import { sendSignInPage } from './page.ts';
import { passiveRefusal } from './protocols.ts';
import { keepPending, methodOfSession, type SignInMethod, type SignInRequest } from './pending.ts';
import { currentSession } from './session.ts';
import { proceed } from './steps.ts';

/** Whether this server offers a method at all (certificates only when certificateAuth is on). */
function offers(s: Services, method: SignInMethod): boolean {
  return method === 'password' || s.certificates !== undefined;
}

export async function beginSignIn(
  s: Services,
  req: Request,
  res: Response,
  r: SignInRequest,
): Promise<void> {
  const methods = r.methods === undefined ? undefined : [...r.methods];
  if (methods !== undefined && !methods.some((m) => offers(s, m))) {
    throw new FederationError(
      'bad_request',
      'The application asked for a sign-in method this service does not offer.',
      { detail: `requested methods ${methods.join(', ')} are not enabled` },
    );
  }
  if (!r.force) {
    const current = await currentSession(s, req, res);
    // An SSO session counts only when it was made the way this request asks (AD FS re-prompts otherwise).
    if (
      current !== undefined &&
      (methods === undefined || methods.includes(methodOfSession(current.session.authMethod)))
    ) {
      await proceed(
        {
          s,
          req,
          res,
          rp: r.rp,
          request: r.request,
          ask: r.mfaAsk,
          passive: r.passive,
          user: current.user,
          session: current.session,
        },
        'additional',
      );
      return;
    }
  }
  if (r.passive === true) {
    // IsPassive (SAML Core §3.4.1): no user interaction; without a usable session, NoPassive (corpus B3.9).
    sendFormPost(s, res, passiveRefusal(s, res, r.request, r.rp));
    return;
  }
  const { pendingId, pending } = await keepPending(s, req, res, r);
  sendSignInPage(s, res, { pendingId, pending, rp: r.rp });
}
