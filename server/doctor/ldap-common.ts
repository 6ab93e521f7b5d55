/**
 * What doctor's three LDAP readers (directory-scan.ts, dc-checks.ts, policy-checks.ts) share: a verified LDAPS client
 * built like the sign-in path's, attribute reading from ldapts entries, and errors as one line for the admin.
 */
import type { ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import type { LdapDirectoryConfig } from '../config/schema.ts';

export {
  readDirectoryCa as readCa,
  directoryTlsOptions as verifiedTlsOptions,
} from '../directory/ldap-tls.ts';

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
