import type { Logger } from 'pino';
import type { AuthResult, DirectoryProvider } from '../directory/types.ts';

export interface SignInAttempt {
  username: string;
  password: string;
  clientIp: string;
  activityId: string;
  relyingParty: string;
}

/**
 * Forms (username + password) authentication against the directory. Every outcome is audited with its precise
 * internal reason; callers show one generic message for every credential failure (corpus C2.1), so the
 * distinction never leaves the server.
 */
export async function authenticateWithPassword(
  directory: DirectoryProvider,
  audit: Logger,
  attempt: SignInAttempt,
): Promise<AuthResult> {
  const result = await directory.authenticate(attempt.username, attempt.password);
  const base = {
    event: 'signin',
    method: 'forms',
    username: attempt.username.slice(0, 256),
    ip: attempt.clientIp,
    activityId: attempt.activityId,
    rp: attempt.relyingParty,
  };
  if (result.ok) {
    audit.info(
      {
        ...base,
        outcome: 'success',
        upn: result.user.userPrincipalName,
        objectGuid: result.user.objectGuid.toString('base64'),
      },
      'sign-in succeeded',
    );
  } else {
    audit.warn(
      {
        ...base,
        outcome: 'failure',
        kind: result.kind,
        reason: result.reason,
        objectGuid: result.user?.objectGuid.toString('base64'),
      },
      'sign-in failed',
    );
  }
  return result;
}
