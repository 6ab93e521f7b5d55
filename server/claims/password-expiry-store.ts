/**
 * `_PasswordExpiryStore`, the built-in AD FS store behind Entra Connect's "Issue Password Expiry Claims" rule
 * (entra-protocol.md §1.6, §6; [PWDEXP]):
 *
 *   c1:[Type == ".../passwordexpirationtime"] => issue(store = "_PasswordExpiryStore",
 *     types = (".../passwordexpirationtime", ".../passwordexpirationdays", ".../passwordchangeurl"),
 *     query = "{0};", param = c1.Value);
 *
 * Its only input is the passwordexpirationtime claim's value: the time the password expires. AD FS adds that input
 * claim (from the account's msDS-UserPasswordExpiryTimeComputed, for forms sign-in, within 14 days of expiry); the
 * store passes the time through and derives the days left and the password change URL. fedgate does not produce
 * the input claim yet, so in a normal sign-in the rule does not fire and this store is never asked. The time is
 * accepted as a Windows FILETIME (what msDS-UserPasswordExpiryTimeComputed holds) or ISO 8601; "never expires"
 * values and unreadable input yield no claims. Without a configured change URL the third column is empty.
 */
import type { Clock } from '../lib/clock.ts';
import { formatQuery, type AttributeStore } from './attribute-store.ts';

export const PASSWORD_EXPIRY_STORE = '_PasswordExpiryStore';

/** 100-ns intervals between 1601-01-01 and 1970-01-01. */
const FILETIME_EPOCH_OFFSET = 116_444_736_000_000_000n;
const NEVER = [0n, 0x7fffffffffffffffn];

/** A FILETIME or ISO 8601 time as a Date; undefined for "never" or unreadable values. */
export function parseExpiryTime(value: string): Date | undefined {
  const v = value.trim();
  if (/^\d{1,20}$/.test(v)) {
    const ft = BigInt(v);
    if (NEVER.includes(ft)) return undefined;
    const ms = Number((ft - FILETIME_EPOCH_OFFSET) / 10_000n);
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v)) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export class PasswordExpiryStore implements AttributeStore {
  readonly name = PASSWORD_EXPIRY_STORE;
  readonly #clock: Clock;
  readonly #changeUrl: string | undefined;

  constructor(opts: { clock: Clock; changeUrl?: string | undefined }) {
    this.#clock = opts.clock;
    this.#changeUrl = opts.changeUrl;
  }

  check(query: string, paramCount: number): number {
    if (query.replace(/\s/g, '') !== '{0};')
      throw new Error('the _PasswordExpiryStore query is "{0};"');
    if (paramCount < 1)
      throw new Error('the _PasswordExpiryStore query needs param = <expiry time>');
    return 3;
  }

  query(query: string, params: readonly string[]): Promise<string[][]> {
    try {
      const value = formatQuery(query, params).replace(/;\s*$/, '');
      const expires = parseExpiryTime(value);
      if (expires === undefined) return Promise.resolve([[], [], []]);
      const days = Math.max(
        0,
        Math.ceil((expires.getTime() - this.#clock.now().getTime()) / 86_400_000),
      );
      return Promise.resolve([
        [value.trim()],
        [String(days)],
        this.#changeUrl === undefined ? [] : [this.#changeUrl],
      ]);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
