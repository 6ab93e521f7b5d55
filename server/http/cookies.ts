import type { Request, Response } from 'express';
import { parseCookie, stringifySetCookie } from 'cookie';

/**
 * Cookie names use the __Host- prefix: the browser only accepts them over https, for path /, without a Domain
 * attribute, so a sibling host cannot plant or read them (corpus C5.1).
 */
export const SSO_COOKIE = '__Host-fedgate_sso';
export const SIGNIN_COOKIE = '__Host-fedgate_signin';

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
      sameSite: 'lax',
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
      sameSite: 'lax',
      maxAge: 0,
    }),
  );
}
