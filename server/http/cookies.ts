import type { Request, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';

/**
 * Cookie names use the __Host- prefix: the browser only accepts them over https, for path /, without a Domain
 * attribute, so a sibling host cannot plant or read them (corpus C5.1).
 */
export const SSO_COOKIE = '__Host-fedgate_sso';
export const SIGNIN_COOKIE = '__Host-fedgate_signin';

/**
 * SameSite per cookie (issue 14 §2; corpus C5.1, which asked for Lax/Strict before cross-site POST bindings were
 * considered).
 * - `__Host-fedgate_sso`: `SameSite=None; Secure`, as AD FS's MSISAuth/MSISAuthenticated cookies are. A service
 *   provider on another site sends its AuthnRequest or LogoutRequest as a cross-site POST (SAML Bindings §3.5,
 *   HTTP-POST); browsers withhold Lax cookies from those, so with Lax a POSTed AuthnRequest never saw the session
 *   (no SSO, IsPassive always NoPassive) and a POSTed LogoutRequest could not end it.
 *   What a cross-site request can do with it (checked by reading every `readCookie(…, SSO_COOKIE)`): the protocol
 *   endpoints (SAML /adfs/ls/ AuthnRequest/LogoutRequest, WS-Fed wsignin1.0/wsignout1.0, IdP-initiated sign-on) read it
 *   to issue a token from the existing session or to end it. Nothing reads it to *create* or *change* a session:
 *   a session is made only by the credential POST and the certificate completion (protocols/browser/establish.ts),
 *   which are guarded by the sign-in binding cookie below, the anti-CSRF form token and the Origin check, none
 *   of which a cross-site page can supply. Ending a session cross-site is what single logout is; a cross-site
 *   top-level GET could already do it with Lax (wsignout1.0 is a GET).
 * - `__Host-fedgate_signin`: stays `SameSite=Lax`. It binds a pending sign-in (and its anti-CSRF token) to the
 *   browser that loaded the sign-in page; the pages that read it (credential POST, password change, certificate
 *   completion) are our own forms and links, always same-site, so it never needs cross-site delivery. Being
 *   Lax, a forged cross-site credential POST (login CSRF) arrives without it and is refused even before the
 *   token and Origin checks. Not Strict: the certificate sign-in returns by a redirect from the certauth host
 *   (another port or host of ours, which may be another site), and that navigation must carry it.
 * Any other cookie defaults to Lax.
 */
const SAME_SITE: Record<string, 'none' | 'lax'> = {
  [SSO_COOKIE]: 'none',
  [SIGNIN_COOKIE]: 'lax',
};
const sameSite = (name: string): 'none' | 'lax' => SAME_SITE[name] ?? 'lax';

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 8192) return undefined;
  const v = parseCookie(header)[name];
  return v === undefined || v === '' ? undefined : v;
}

export function setCookie(
  res: Response,
  name: string,
  value: string,
  maxAgeSeconds?: number,
): void {
  res.append(
    'Set-Cookie',
    stringifySetCookie({
      name,
      value,
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: sameSite(name),
      ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }),
    }),
  );
}

export function clearCookie(res: Response, name: string): void {
  res.append(
    'Set-Cookie',
    stringifySetCookie({
      name,
      value: '',
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: sameSite(name),
      maxAge: 0,
    }),
  );
}
