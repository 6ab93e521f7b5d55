import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
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

/** A secret file (a PFX password, a key passphrase, an HSM PIN) that cannot be used; the message says why. */
export class SecretFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretFileError';
  }
}

/** A secret file is a line or two; anything larger is not one. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * A secret an admin mounts as a file: the whole file without one trailing newline (`echo secret > file`). Read
 * through one descriptor, so the permission check and the read see the same file; a file group or others may read
 * is refused, as key files are (security-corpus C7.1).
 */
export async function readSecretFile(file: string, what: string): Promise<string> {
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${String(code)})`;
    throw new SecretFileError(`The ${what} file ${file} ${why}.`, { cause: err });
  }
  try {
    // One descriptor for the check and the read: both see the same file.
    const st = await fh.stat();
    if (!st.isFile()) throw new SecretFileError(`The ${what} file ${file} is not a regular file.`);
    if ((st.mode & 0o077) !== 0) {
      throw new SecretFileError(
        `The ${what} file ${file} is accessible by group or others (mode ` +
          `${(st.mode & 0o777).toString(8).padStart(3, '0')}); it guards a signing key and must be private to ` +
          `its owner. Run: chmod 600 ${file}`,
      );
    }
    if (st.size > MAX_SECRET_FILE_BYTES) {
      throw new SecretFileError(`The ${what} file ${file} is too large to hold a ${what}.`);
    }
    const text = (await fh.readFile('utf8')).replace(/\r?\n$/, '');
    if (text === '') throw new SecretFileError(`The ${what} file ${file} is empty.`);
    return text;
  } finally {
    await fh.close();
  }
}
