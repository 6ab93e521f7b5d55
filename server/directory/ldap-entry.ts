/**
 * Reading an ldapts search entry: attribute names compared ignoring case (a DC may answer `objectGUID` as
 * `objectguid`), one value or many, text or bytes. Shared by the LDAP directory, the directory cache's change
 * tracking and `fedgate doctor`.
 */
import { ResultCodeError, type Entry } from 'ldapts';

/** Every value of `name` in the entry; [] when absent. */
export function entryValues(entry: Entry | undefined, name: string): (string | Buffer)[] {
  if (entry === undefined) return [];
  let v = entry[name];
  if (v === undefined) {
    const lower = name.toLowerCase();
    for (const [key, value] of Object.entries(entry))
      if (key.toLowerCase() === lower) {
        v = value;
        break;
      }
  }
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Every value as text (bytes read as UTF-8). */
export function entryTexts(entry: Entry | undefined, name: string): string[] {
  return entryValues(entry, name).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

/** The first value as text; undefined when absent. */
export function entryText(entry: Entry | undefined, name: string): string | undefined {
  return entryTexts(entry, name)[0];
}

/** The first value when it was read as bytes (explicitBufferAttributes); undefined otherwise. */
export function entryBinary(entry: Entry | undefined, name: string): Buffer | undefined {
  const [v] = entryValues(entry, name);
  return Buffer.isBuffer(v) ? v : undefined;
}

/**
 * An LDAP or socket error for logs: `ldap:<code> <message>` or `<socket code>: <message>`, the first line only and
 * at most 200 characters. Never includes a password (ldapts does not put bind credentials in its errors).
 */
export function describeLdapError(err: unknown): string {
  const firstLine = (s: string): string => (s.split('\n')[0] ?? '').slice(0, 200);
  if (err instanceof ResultCodeError) return `ldap:${String(err.code)} ${firstLine(err.message)}`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${firstLine(err.message)}` : firstLine(err.message);
  }
  return String(err);
}
