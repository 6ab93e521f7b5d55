import type { Request, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';

/**
 * Cookie names use the __Host- prefix: the browser only accepts them over https, for path /, without a Domain
 * attribute, so a sibling host cannot plant or read them (corpus C5.1).
 */
export const SSO_COOKIE = '__Host-fedgate_sso';
export const SIGNIN_COOKIE = '__Host-fedgate_signin';

/**
 * SameSite per cookie (issue 14 §2; corpus C5.1).
 * - The SSO session cookie is `SameSite=None; Secure`, as AD FS's MSISAuth cookies are. A service provider on
 *   another site sends its AuthnRequest or LogoutRequest as a cross-site POST (SAML HTTP-POST binding); browsers
 *   do not send Lax cookies on those, so with Lax a POSTed AuthnRequest never saw the session (no SSO, IsPassive
 *   always NoPassive) and a POSTed LogoutRequest could not end it. The cookie only *identifies* an existing
 *   session to the protocol endpoints: a session is created or changed only by the credential POST, whose
 *   defence does not depend on this cookie (below).
 * - The sign-in binding cookie stays `SameSite=Lax`: it ties the anti-CSRF token of a sign-in page to the
 *   browser that loaded it, and the credential POST is always same-origin (our own form). A cross-site forged
 *   credential POST (login CSRF) therefore arrives without it and is refused, besides the Origin check.
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
