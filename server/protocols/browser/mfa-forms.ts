/**
 * What the second-factor page (mfa-page.ts, mfa.ts) and the security-info page (portal.ts) share: their CSP (the
 * base policy plus the self-hosted WebAuthn script, views/theme/webauthn.js), the messages they show, and the
 * reading of the fields a user controls (a factor's name, the browser's WebAuthn response).
 */
import { MAX_FACTOR_NAME } from '../../authn/mfa/enrolments.ts';
import { param } from '../../http/middleware.ts';

export const MFA_PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Largest WebAuthn response accepted in a post (a passkey assertion or registration is a few kilobytes at most). */
export const MAX_WEBAUTHN_RESPONSE = 32 * 1024;

export const WRONG_CODE = 'That code did not work. Check the code and try again.';
export const TOO_MANY = 'No more verification methods can be added to this account.';
export const UNREADABLE =
  'Your sign-in methods cannot be read. Contact your helpdesk: they can reset your verification methods.';

/** A user-chosen factor name: control characters dropped, trimmed, bounded; undefined when nothing is left. */
export function cleanName(raw: string | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are refused in names shown back to the user
  const v = (raw ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return v === '' ? undefined : v.slice(0, MAX_FACTOR_NAME);
}

/** The WebAuthn response field: JSON, bounded; undefined when absent or not JSON. */
export function webauthnResponse(body: unknown): unknown {
  const raw = param(body, 'WebAuthnResponse', MAX_WEBAUTHN_RESPONSE);
  if (raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
