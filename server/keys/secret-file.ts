import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A farm secret kept in keys.dir as `name` (0600): made on first start (256 random bits, base64url) when the
 * configuration gives none, then read. 'wx' never overwrites an existing secret (that would sign everyone out, or
 * make every sealed record unreadable); a file other users can read, or one too short, is refused.
 */
export async function loadOrCreateSecretFile(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
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

/**
 * A secret an admin mounts as a file (a passphrase, an HSM PIN): the whole file without its trailing newline. The
 * file must not be readable by group or others, like a key file.
 */
export async function readSecretValue(file: string): Promise<string> {
  const st = await stat(file).catch((err: unknown) => {
    throw new Error(`${file} cannot be read (${String((err as NodeJS.ErrnoException).code)})`);
  });
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0)
    throw new Error(`${file} is accessible by group or others; chmod 600 it`);
  const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  if (value === '') throw new Error(`${file} is empty`);
  return value;
}
