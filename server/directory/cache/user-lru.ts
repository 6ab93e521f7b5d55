/**
 * The directory cache's user entries (issue 22): a bounded LRU keyed by objectGUID, with the lowercased UPN and
 * sAMAccountName as secondary keys that always point at a live entry (AD matches both names case-insensitively, and
 * each is unique in the domain). Nothing here decides security state: entries only spare the DC the search before
 * the bind and the claim rules' reads of the user's own entry.
 */
import type { AttributeValues, DirectoryUser } from '../types.ts';
import type { GuidKey } from './types.ts';

export interface CachedUserEntry {
  guid: GuidKey;
  /** The user as the DC returned it (groups are recomputed from the group graph when served). */
  user: DirectoryUser;
  /**
   * Every attribute the entry was read with, keyed by the lowercase attribute name, values as read (binary ones as
   * Buffer). An attribute that was asked for but is not set has []; one that was not asked for is absent.
   */
  values: AttributeValues;
  /** URL of the DC the entry was read from (only entries from the DC tracking follows are served). */
  dc: string;
  /** Injected-clock epoch ms of the read. */
  readAt: number;
}

export interface UserLruOptions {
  maxEntries: number;
  /**
   * Backstop besides change tracking: an entry older than this is read again. Covers what uSNChanged polling cannot
   * see as svc-fedgate (a deleted user: its tombstone is hidden without rights on CN=Deleted Objects).
   */
  maxAgeMs: number;
}

/** Map iteration order is insertion order: the first key is the least recently used. */
export class UserLru {
  readonly #max: number;
  readonly #maxAgeMs: number;
  readonly #byGuid = new Map<GuidKey, CachedUserEntry>();
  readonly #byUpn = new Map<string, GuidKey>();
  readonly #bySam = new Map<string, GuidKey>();

  constructor(opts: UserLruOptions) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
    this.#max = opts.maxEntries;
    this.#maxAgeMs = opts.maxAgeMs;
  }

  get size(): number {
    return this.#byGuid.size;
  }

  /** The entry for a GUID, marked most recently used; undefined when absent or older than maxAge (then dropped). */
  get(guid: GuidKey, nowMs: number): CachedUserEntry | undefined {
    const entry = this.#byGuid.get(guid);
    if (entry === undefined) return undefined;
    if (nowMs - entry.readAt > this.#maxAgeMs || nowMs < entry.readAt - this.#maxAgeMs) {
      this.delete(guid);
      return undefined;
    }
    this.#byGuid.delete(guid);
    this.#byGuid.set(guid, entry);
    return entry;
  }

  byUpn(upn: string, nowMs: number): CachedUserEntry | undefined {
    const guid = this.#byUpn.get(upn.toLowerCase());
    return guid === undefined ? undefined : this.get(guid, nowMs);
  }

  bySam(sAMAccountName: string, nowMs: number): CachedUserEntry | undefined {
    const guid = this.#bySam.get(sAMAccountName.toLowerCase());
    return guid === undefined ? undefined : this.get(guid, nowMs);
  }

  /** The entry without touching recency or age (change tracking compares against it). */
  peek(guid: GuidKey): CachedUserEntry | undefined {
    return this.#byGuid.get(guid);
  }

  /**
   * Inserts or replaces the entry for entry.guid. Another entry holding the same UPN or sAMAccountName is dropped:
   * the name moved to this account, so the other entry is out of date. Evicts the least recently used beyond the
   * bound.
   */
  set(entry: CachedUserEntry): void {
    this.delete(entry.guid);
    const upn = entry.user.userPrincipalName?.toLowerCase();
    const sam = entry.user.sAMAccountName.toLowerCase();
    const otherUpn = upn === undefined ? undefined : this.#byUpn.get(upn);
    if (otherUpn !== undefined) this.delete(otherUpn);
    const otherSam = this.#bySam.get(sam);
    if (otherSam !== undefined) this.delete(otherSam);
    this.#byGuid.set(entry.guid, entry);
    if (upn !== undefined) this.#byUpn.set(upn, entry.guid);
    this.#bySam.set(sam, entry.guid);
    while (this.#byGuid.size > this.#max) {
      const oldest = this.#byGuid.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  delete(guid: GuidKey): boolean {
    const entry = this.#byGuid.get(guid);
    if (entry === undefined) return false;
    this.#byGuid.delete(guid);
    const upn = entry.user.userPrincipalName?.toLowerCase();
    if (upn !== undefined && this.#byUpn.get(upn) === guid) this.#byUpn.delete(upn);
    const sam = entry.user.sAMAccountName.toLowerCase();
    if (this.#bySam.get(sam) === guid) this.#bySam.delete(sam);
    return true;
  }

  /** Drops the entry (if any) that holds this UPN or sAMAccountName. */
  deleteByName(name: { upn?: string | undefined; sAMAccountName?: string | undefined }): void {
    const a = name.upn === undefined ? undefined : this.#byUpn.get(name.upn.toLowerCase());
    if (a !== undefined) this.delete(a);
    const b =
      name.sAMAccountName === undefined
        ? undefined
        : this.#bySam.get(name.sAMAccountName.toLowerCase());
    if (b !== undefined) this.delete(b);
  }

  clear(): void {
    this.#byGuid.clear();
    this.#byUpn.clear();
    this.#bySam.clear();
  }

  /** Sizes of the three maps (tests: the secondary keys never outlive their entry). */
  indexSizes(): { guids: number; upns: number; sams: number } {
    return { guids: this.#byGuid.size, upns: this.#byUpn.size, sams: this.#bySam.size };
  }
}
