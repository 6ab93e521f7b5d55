/**
 * The sign-in page of a pending sign-in: the password form and/or the certificate link, as the request allows
 * (wauth / RequestedAuthnContext) and the server offers. Also shown again after a failed attempt, to resume a
 * sign-in after a password change, and by GET /adfs/ls/?AuthState= (resume.ts).
 *
 * With branding.signIn.paginated (AD FS 2019 paginated sign-in) the first page asks only for the user name; the
 * next shows that user's methods. A user name the party hinted (Entra's `username=`, a SAML Subject) skips the
 * first page: the page says who is signing in and offers "Sign in with a different account".
 */
import type { Response } from 'express';
import { ROUTES } from '../../http/routes.ts';
import type { PageText } from '../../i18n/msg.ts';
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
    error?: PageText | undefined;
    notice?: PageText | undefined;
    username?: string | undefined;
  },
): void {
  const signIn = s.config.branding.signIn;
  const passwordAllowed = allows(p.pending, 'password');
  const known = passwordAllowed ? p.pending.username : undefined;
  const resume = `${ROUTES.passive}/?${new URLSearchParams({ AuthState: p.pendingId }).toString()}`;
  // The party's language hint, when the page's language is not decided yet (issue 17).
  res.locals.localeHints ??= p.pending.localeHints;
  res
    .status(200)
    .type('html')
    .send(
      s.views.page(
        res,
        'signin',
        {
          relyingPartyName: p.rp.name,
          authState: p.pendingId,
          csrf: p.pending.csrf,
          username: p.username ?? p.pending.username ?? '',
          error: p.error,
          notice: p.notice,
          passwordAllowed,
          identify: signIn.paginated && passwordAllowed && known === undefined,
          knownUser: known !== undefined,
          differentAccountUrl: `${resume}&SwitchUser=1`,
          kmsi: signIn.keepMeSignedIn,
          kmsiChecked: p.pending.kmsi === true,
          // Where the language picker comes back to (this page also answers POSTs).
          returnTo: resume,
          certificateUrl:
            s.certificates === undefined || !allows(p.pending, 'certificate')
              ? undefined
              : `${s.config.certificateAuth.publicUrl}${ROUTES.certificate}?${new URLSearchParams({ AuthState: p.pendingId }).toString()}`,
        },
        { rp: p.rp },
      ),
    );
}
