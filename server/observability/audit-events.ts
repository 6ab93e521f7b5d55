/**
 * AD FS audit event ids, so SIEM rules written for AD FS keep working (security-corpus E10; AD FS "auditing
 * enhancements" and Extranet Smart Lockout event docs). Every audit line that corresponds to one of these carries
 * `eventId` next to fedgate's own `event` name, plus activityId, user, rp (trust), method, ip and node.
 */
export const AuditEventIds = {
  /** Token issued by the federation service (AD FS 1200, "Application token success"). */
  tokenIssued: 1200,
  /** A sign-in failed: no token issued (AD FS 1201, "Application token failure"). */
  signInFailed: 1201,
  /** Credential validation failed: wrong password or unknown user (AD FS 1203, "Fresh credential failure"). */
  badPassword: 1203,
  /** An attempt refused because the account is locked out for its location class (AD FS 1210, ESL). */
  extranetLockoutBlocked: 1210,
  /** The account just reached the extranet lockout threshold (AD FS 516). */
  accountLockedOut: 516,
  /** The correct password was presented while locked out: the account may be compromised (AD FS 515). */
  correctPasswordWhileLocked: 515,
} as const;

export type AuditEventId = (typeof AuditEventIds)[keyof typeof AuditEventIds];
