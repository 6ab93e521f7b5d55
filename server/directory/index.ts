import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { EmbeddedDirectory } from './embedded.ts';
import { LdapDirectory } from './ldap.ts';
import type { DirectoryProvider } from './types.ts';

export type * from './types.ts';
export { hashPassword } from './embedded.ts';

/** The part of a pino logger the directory uses. Passwords are never passed to it. */
export type DirLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

/**
 * One unit of directory work, reported to `onOperation` before it starts: network work for LDAP (per DC URL),
 * password verification for the embedded directory. Lets tests prove that, e.g., an empty password causes
 * no traffic (security-corpus C4.5) and that a rejected bind is not repeated on another DC (C3.1).
 */
export interface DirectoryOperation {
  /** DC URL, or `embedded`. */
  url: string;
  op: 'connect' | 'service_bind' | 'search' | 'bind' | 'verify_password' | 'modify';
}

export interface DirectoryDeps {
  logger: DirLogger;
  clock: Clock;
  /** Relative paths in the directory config (CA file, users file) resolve against this. */
  baseDir: string;
  onOperation?: ((op: DirectoryOperation) => void) | undefined;
}

/**
 * Builds the configured directory; rejects on unreadable or invalid files (CA bundle, users file). No network
 * traffic happens here: LDAP connections open on first use.
 */
export function createDirectory(
  config: Config['directory'],
  deps: DirectoryDeps,
): Promise<DirectoryProvider> {
  try {
    return Promise.resolve(
      config.kind === 'ldap'
        ? new LdapDirectory(config, deps)
        : new EmbeddedDirectory(config, deps),
    );
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
