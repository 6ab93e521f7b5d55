import { loadOrCreateSecretFile } from './secret-file.ts';

/**
 * The MFA secret in keys.dir (`mfa.secret`, 0600), made on first start when `mfa.secrets` is not configured. It seals
 * every user's enrolment record (authn/mfa/enrolments.ts) before it goes to the directory, so a farm must share it
 * (same keys.dir, or better mfa.secrets): a node with another secret reads every record as unreadable. Losing it
 * loses every enrolment (users enrol again), so it belongs in the keys backup.
 */
export function loadOrCreateMfaSecret(dir: string): Promise<string> {
  return loadOrCreateSecretFile(dir, 'mfa.secret');
}
