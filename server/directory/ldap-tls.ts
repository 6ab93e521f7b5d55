/**
 * TLS for every connection fedgate opens to a DC (sign-in binds and searches, change tracking, `fedgate doctor`):
 * certificate checks always on, TLS 1.2 or later, the configured CA bundle and server name (security-corpus C4.6).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { LdapDirectoryConfig } from '../config/schema.ts';

/** directory.tls.ca's bytes (undefined when unset). Throws when the file cannot be read: the callers report it. */
export function readDirectoryCa(dir: LdapDirectoryConfig, baseDir: string): Buffer | undefined {
  return dir.tls.ca === undefined ? undefined : readFileSync(resolve(baseDir, dir.tls.ca));
}

/** The TLS options of a DC connection, with the CA bundle already read. */
export function directoryTlsOptions(
  dir: LdapDirectoryConfig,
  ca: Buffer | undefined,
): ConnectionOptions {
  return {
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ...(ca === undefined ? {} : { ca }),
    ...(dir.tls.servername === undefined ? {} : { servername: dir.tls.servername }),
  };
}
