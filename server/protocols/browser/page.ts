/**
 * The sign-in page of a pending sign-in: the password form and/or the certificate link, as the request allows
 * (wauth / RequestedAuthnContext) and the server offers. Also shown again after a failed attempt and to resume a
 * sign-in after a password change.
 */
import type { Response } from 'express';
import { ROUTES } from '../../http/routes.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import { allows, type PendingSignIn } from './pending.ts';

/** One generic message for every credential failure (corpus C2.1); the same text AD FS shows. */
export const GENERIC_FAILURE =
  'Incorrect user ID or password. Type the correct user ID and password, and try again.';

export function sendSignInPage(
  s: Services,
  res: Response,
  p: {
    pendingId: string;
    pending: PendingSignIn;
    rp: RelyingParty;
    error?: string | undefined;
    notice?: string | undefined;
    username?: string | undefined;
  },
): void {
  res
    .status(200)
    .type('html')
    .send(
      s.views.page('signin', 'Sign in', {
        relyingPartyName: p.rp.name,
        authState: p.pendingId,
        csrf: p.pending.csrf,
        username: p.username ?? p.pending.username ?? '',
        error: p.error,
        notice: p.notice,
        passwordAllowed: allows(p.pending, 'password'),
        certificateUrl:
          s.certificates === undefined || !allows(p.pending, 'certificate')
            ? undefined
            : `${s.config.certificateAuth.publicUrl}${ROUTES.certificate}?${new URLSearchParams({ AuthState: p.pendingId }).toString()}`,
      }),
    );
}
