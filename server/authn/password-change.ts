import type { PasswordPolicyViolation } from '../directory/types.ts';
import {
  accountLockedOut,
  extranetLockout,
  passwordChangeBadPassword,
  passwordChangePolicy,
  passwordChangeSourceRefused,
  passwordChangeSucceeded,
  type PasswordChangeFields,
} from '../observability/audit.ts';
import { presentedAddresses, type PasswordAuthContext, type SignInAttempt } from './password.ts';
import { accountKey, normaliseName } from './lockout.ts';

/**
 * Password change as the user (expired / must-change passwords and /adfs/portal/updatepassword/). It goes through
 * the same gates as a sign-in (security-corpus C1.8): banned ranges, the per-source budget, and the account's
 * smart-lockout counters, checked before the directory sees the old password; a wrong old password counts as a
 * bad password. AD FS's own update-password page had no such protection (archeon1004/UpdatePasswordProtection).
 */
export type PasswordChangeOutcome =
  | { ok: true }
  | {
      ok: false;
      kind: 'refused' | 'policy' | 'unavailable' | 'unsupported';
      violation?: PasswordPolicyViolation | undefined;
      reason: string;
    };

/** What the user is told when AD's policy refuses the new password: specific, never a DC's raw text. */
export const POLICY_MESSAGES: Record<PasswordPolicyViolation, string> = {
  too_short: "The new password is too short for your organization's password policy.",
  complexity:
    'The new password is not complex enough. Use at least three of: upper-case letters, lower-case letters, digits and symbols, and do not include your user name.',
  history: 'You have used this password recently. Choose a password you have not used before.',
  min_age: 'Your password was changed too recently to be changed again. Try again later.',
  policy:
    "The new password does not meet your organization's password policy (length, complexity or history).",
};

export async function changePasswordProtected(
  ctx: PasswordAuthContext,
  attempt: SignInAttempt & { newPassword: string },
): Promise<PasswordChangeOutcome> {
  const { directory, audit, lockout, spray } = ctx;
  const fields: PasswordChangeFields = {
    method: 'password-change',
    username: attempt.username.slice(0, 256),
    ip: attempt.clientIp,
    activityId: attempt.activityId,
    rp: attempt.relyingParty,
  };
  if (directory.changePassword === undefined)
    return { ok: false, kind: 'unsupported', reason: 'directory_cannot_change_passwords' };
  const presented = presentedAddresses(attempt);
  const source = await spray.check(attempt.clientIp, presented);
  if (!source.allowed) {
    passwordChangeSourceRefused(audit, { ...fields, outcome: 'failure', reason: source.reason });
    return { ok: false, kind: 'refused', reason: source.reason ?? 'source_refused' };
  }
  let user;
  try {
    user = await directory.findUser(normaliseName(attempt.username));
  } catch (err) {
    return {
      ok: false,
      kind: 'unavailable',
      reason: err instanceof Error ? err.message : String(err),
    };
  }
  const account = accountKey(user, attempt.username);
  const location = await lockout.classify(account, presented);
  const decision = await lockout.check(account, location);
  if (decision.locked) {
    extranetLockout(audit, {
      ...fields,
      account,
      location,
      badPasswordCount: decision.count,
      enforced: !decision.allowed,
    });
    if (!decision.allowed) {
      await spray.recordFailure(attempt.clientIp, account);
      return { ok: false, kind: 'refused', reason: 'extranet_lockout' };
    }
  }
  const result = await directory.changePassword(
    attempt.username,
    attempt.password,
    attempt.newPassword,
  );
  const objectGuid = user?.objectGuid.toString('base64');
  if (result.ok) {
    passwordChangeSucceeded(audit, { ...fields, outcome: 'success', objectGuid });
    return { ok: true };
  }
  if (result.kind === 'unavailable')
    return { ok: false, kind: 'unavailable', reason: result.reason };
  if (result.kind === 'policy') {
    passwordChangePolicy(audit, {
      ...fields,
      outcome: 'failure',
      reason: result.reason,
      violation: result.violation,
      objectGuid,
    });
    return {
      ok: false,
      kind: 'policy',
      violation: result.violation ?? 'policy',
      reason: result.reason,
    };
  }
  // Wrong old password / unknown name: a bad password for the account and the source.
  if (result.reason !== 'empty_password') {
    const failure = await lockout.recordFailure(account, location);
    await spray.recordFailure(attempt.clientIp, account);
    passwordChangeBadPassword(audit, {
      ...fields,
      outcome: 'failure',
      reason: result.reason,
      account,
      location,
      badPasswordCount: failure.count,
      objectGuid,
    });
    if (failure.reachedThreshold) {
      accountLockedOut(audit, {
        ...fields,
        account,
        location,
        badPasswordCount: failure.count,
        enforced: !lockout.logOnly,
      });
    }
  }
  return { ok: false, kind: 'refused', reason: result.reason };
}
