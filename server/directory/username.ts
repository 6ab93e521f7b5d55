/**
 * Sign-in name parsing (security-corpus C4.3). Runs before any directory traffic: whatever it rejects never
 * reaches a filter. Values it accepts still go into filters only as escaped/BER-encoded values (C4.1).
 */

/** What the directory searches for. */
export type SignInName =
  /** `user@suffix`: matched against userPrincipalName. */
  | { form: 'upn'; upn: string }
  /** `DOMAIN\user` (domain checked here) or bare `user`: matched against sAMAccountName. */
  | { form: 'sam'; sAMAccountName: string };

export type ParsedSignInName =
  | { ok: true; name: SignInName }
  | { ok: false; reason: 'invalid_name' | 'unknown_domain' | 'unknown_upn_suffix' };

export interface SignInNameRules {
  /** NetBIOS domain accepted in `DOMAIN\user` (case-insensitive). */
  netbiosDomain: string;
  /** Accepted UPN suffixes (case-insensitive); empty = any. */
  upnSuffixes?: readonly string[] | undefined;
}

/** A sane cap (C4.3); AD's own limits are 20 (sAMAccountName) and 1024 (UPN) characters. */
export const MAX_SIGN_IN_NAME_LENGTH = 256;

const EDGE_WHITESPACE = /^\s|\s$/u;
// C0/C1 controls (NUL included) and line/paragraph separators.
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;

const invalid = { ok: false, reason: 'invalid_name' } as const;

export function parseSignInName(input: unknown, rules: SignInNameRules): ParsedSignInName {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_SIGN_IN_NAME_LENGTH)
    return invalid;
  if (EDGE_WHITESPACE.test(input) || CONTROL.test(input)) return invalid;

  const parts = input.split('\\');
  if (parts.length > 2) return invalid; // a\b\c
  if (parts.length === 2) {
    const [domain = '', user = ''] = parts;
    if (domain === '' || user === '' || user.includes('@')) return invalid; // \x, x\, a\b@c
    if (domain.toUpperCase() !== rules.netbiosDomain.toUpperCase())
      return { ok: false, reason: 'unknown_domain' };
    return { ok: true, name: { form: 'sam', sAMAccountName: user } };
  }

  const at = input.split('@');
  if (at.length === 1) return { ok: true, name: { form: 'sam', sAMAccountName: input } };
  const [prefix = '', suffix = ''] = at;
  if (at.length > 2 || prefix === '' || suffix === '') return invalid;
  const suffixes = rules.upnSuffixes ?? [];
  if (suffixes.length > 0 && !suffixes.some((s) => s.toLowerCase() === suffix.toLowerCase())) {
    return { ok: false, reason: 'unknown_upn_suffix' };
  }
  return { ok: true, name: { form: 'upn', upn: input } };
}

/**
 * The sAMAccountName of a `DOMAIN\name` account as AD FS's AD store takes it (the third part of a query); the
 * domain must be this directory's.
 */
export function accountName(account: string, netbiosDomain: string): string {
  const parts = account.split('\\');
  const [domain = '', name = ''] = parts;
  // eslint-disable-next-line no-control-regex -- control characters in an account name are refused
  if (parts.length !== 2 || name === '' || name.length > 256 || /[\u0000-\u001f]/.test(name))
    throw new Error(`"${account.slice(0, 100)}" is not a DOMAIN\\name account`);
  if (domain.toUpperCase() !== netbiosDomain.toUpperCase())
    throw new Error(`domain ${domain} is not this directory's domain (${netbiosDomain})`);
  return name;
}
