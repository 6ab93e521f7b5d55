/**
 * What doctor's three LDAP readers (directory-scan.ts, dc-checks.ts, policy-checks.ts) share: a verified LDAPS client
 * built like the sign-in path's, attribute reading from ldapts entries, and errors as one line for the admin.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import type { LdapDirectoryConfig } from '../config/schema.ts';

/** directory.tls.ca's bytes (undefined when unset). Throws when the file cannot be read: the callers report it. */
export function readCa(dir: LdapDirectoryConfig, baseDir: string): Buffer | undefined {
  return dir.tls.ca === undefined ? undefined : readFileSync(resolve(baseDir, dir.tls.ca));
}

/**
 * TLS options for the DCs (security-corpus C4.6): certificate checks always on, the configured CA bundle and server
 * name, as server/directory/ldap.ts does.
 */
export function verifiedTlsOptions(
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

/** An ldapts client for one DC URL with the directory's timeouts and verified TLS. */
export function verifiedClient(
  url: string,
  dir: LdapDirectoryConfig,
  tlsOptions: ConnectionOptions,
): Client {
  return new Client({
    url,
    timeout: dir.timeoutMs,
    connectTimeout: dir.connectTimeoutMs,
    tlsOptions,
  });
}

export {
  entryValues as values,
  entryTexts as texts,
  entryText as text,
} from '../directory/ldap-entry.ts';

/** An error as one line: LDAP result codes and socket codes kept, no stack, no newlines, bounded. */
export function describeError(err: unknown): string {
  let out: string;
  if (err instanceof ResultCodeError) out = `LDAP ${String(err.code)}: ${err.message}`;
  else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    out =
      typeof code === 'string' && !err.message.includes(code)
        ? `${code}: ${err.message}`
        : err.message;
  } else out = String(err);
  return out.replace(/\s+/g, ' ').trim().slice(0, 300);
}
