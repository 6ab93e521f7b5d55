import type { AuthFailureKind } from './types.ts';

/**
 * AD answers a failed simple bind with LDAP resultCode 49 and the Win32 error in the diagnostic message,
 * e.g. `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1`
 * (security-corpus C3; Samba sends the same text).
 */
const DATA_RE = /data ([0-9a-f]{3,4})/i;

/** Win32 sub-code → failure kind (security-corpus C3 table). */
const SUB_CODES: Record<string, AuthFailureKind> = {
  '525': 'bad_credentials', // ERROR_NO_SUCH_USER
  '52e': 'bad_credentials', // ERROR_LOGON_FAILURE
  '530': 'logon_restricted', // ERROR_INVALID_LOGON_HOURS
  '531': 'logon_restricted', // ERROR_INVALID_WORKSTATION
  '532': 'password_expired', // ERROR_PASSWORD_EXPIRED
  '533': 'disabled', // ERROR_ACCOUNT_DISABLED
  '701': 'account_expired', // ERROR_ACCOUNT_EXPIRED
  '773': 'must_change_password', // ERROR_PASSWORD_MUST_CHANGE
  '775': 'locked', // ERROR_ACCOUNT_LOCKED_OUT
};

export interface BindFailure {
  kind: AuthFailureKind;
  /** `ad:52e`, or `ldap:49` when the server gave no AD sub-code. */
  reason: string;
}

/**
 * Maps the diagnostic message of an LDAP 49 (invalidCredentials) bind result. Unknown sub-codes and
 * non-AD servers count as bad credentials: never as success, never as an outage.
 */
export function mapInvalidCredentials(message: string): BindFailure {
  const raw = DATA_RE.exec(message)?.[1];
  if (raw === undefined) return { kind: 'bad_credentials', reason: 'ldap:49' };
  const code = Number.parseInt(raw, 16).toString(16); // `data 0775` and `data 775` are the same code
  return { kind: SUB_CODES[code] ?? 'bad_credentials', reason: `ad:${code}` };
}
