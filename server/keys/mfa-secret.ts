import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The MFA secret in keys.dir (`mfa.secret`, 0600), made on first start when `mfa.secrets` is not configured. It seals
 * every user's enrolment record (authn/mfa/enrolments.ts) before it goes to the directory, so a farm must share it
 * (same keys.dir, or better mfa.secrets): a node with another secret reads every record as unreadable. Losing it
 * loses every enrolment (users enrol again), so it belongs in the keys backup.
 */
export async function loadOrCreateMfaSecret(dir: string): Promise<string> {
  const file = join(dir, 'mfa.secret');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite an existing secret (that would make every record unreadable).
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(`${randomBytes(32).toString('base64url')}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(`${file} is accessible by group or others; chmod 600 it`);
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < 32) throw new Error(`${file} holds less than 32 characters`);
  return secret;
}
