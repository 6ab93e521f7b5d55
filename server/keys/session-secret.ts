import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The session secret in keys.dir (`session.secret`, 0600), made on first start when `session.secrets` is not
 * configured. A farm shares it by sharing keys.dir (read-only mount) or, better, by setting session.secrets.
 */
export async function loadOrCreateSessionSecret(dir: string): Promise<string> {
  const file = join(dir, 'session.secret');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
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
