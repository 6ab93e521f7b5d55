/**
 * The directory cache (issue 22, docs/directory-cache.md): a DirectoryProvider in front of the LDAP directory, so a
 * warm sign-in costs the DC one bind and a cold one a search and a bind.
 *
 *  - Users: a bounded LRU (user-lru.ts) of entries as the DC returned them, with the attributes claim rules read.
 *    They are dropped when change tracking reports different values, on every full resync, and after a max age.
 *  - Groups: memberOf and tokenGroups come from the change-tracked group graph, never from the cached entry
 *    (adding a user to a group changes the group's uSNChanged, not the user's).
 *  - Security state is the DC's: every sign-in binds, and disabled, locked, expired and must-change come from the
 *    bind's sub-code (security-corpus C3). Cached flags are never used to refuse or accept.
 *  - Staleness bound: entries are served only while the tracker's last complete sync started at most
 *    maxStalenessSeconds ago (injected clock) and it has finished its first full read. Otherwise every call goes to
 *    the LDAP directory as if there were no cache: the cache being unsure never refuses a sign-in.
 *  - Only entries read from the DC tracking follows are served: USNs are per DC, so an entry read from a lagging DC
 *    could hold a value the tracker has already seen change on its own DC, and would never be dropped.
 */
import type { LdapDirectoryConfig } from '../../config/schema.ts';
import type { Clock } from '../../lib/clock.ts';
import { isConstructedAttribute, sidToBytes } from '../ad-attributes.ts';
import { bytesToGuid, sidToString } from '../guid.ts';
import { parseLdapFilter, type FilterNode } from '../ldap-filter.ts';
import {
  firstRdnValue,
  STORED_USER_ATTRIBUTES,
  type LdapDirectory,
  type UserEntryRead,
} from '../ldap.ts';
import type {
  AttributeQuery,
  AttributeSchema,
  AttributeValue,
  AttributeValues,
  AttributeWriteResult,
  AuthResult,
  CertificateAccount,
  CertificateMappingQuery,
  DirectoryCacheEvent,
  DirectoryDeps,
  DirectoryHealth,
  DirectoryProvider,
  DirectoryUser,
  DirLogger,
  PasswordChangeResult,
} from '../types.ts';
import { accountName, parseSignInName, type SignInName } from '../username.ts';
import type {
  ChangedUser,
  ChangeTrackerApi,
  DirectoryCacheStatus,
  GroupGraphApi,
  GroupRecord,
  TrackerEvents,
  TrackerOptions,
  TrackerState,
} from './types.ts';
import { UserLru, type CachedUserEntry } from './user-lru.ts';

/**
 * Backstop besides change tracking: what uSNChanged polling with read rights cannot see (a deleted user's tombstone
 * is hidden from svc-fedgate) is read again after this long. A deleted user's password bind fails on the DC anyway.
 */
export const USER_MAX_AGE_MS = 15 * 60_000;
/** Shortest poll interval: a small bound must not turn tracking into a busy loop against the DC. */
export const MIN_POLL_INTERVAL_MS = 250;
/** Attributes a group look-up by objectSid may ask for to be answered from the graph. */
const GROUP_LOOKUP_ATTRIBUTES = new Set(['objectsid', 'samaccountname', 'distinguishedname']);

/** The group graph and tracker the cache runs on (index.ts builds the real ones; tests may build their own). */
export interface CacheParts {
  graph: GroupGraphApi;
  createTracker(
    graph: GroupGraphApi,
    options: TrackerOptions,
    events: TrackerEvents,
  ): ChangeTrackerApi;
}

/** The poll interval for a staleness bound: three polls per bound, never under MIN_POLL_INTERVAL_MS. */
export function pollIntervalFor(maxStalenessSeconds: number): number {
  return Math.max(MIN_POLL_INTERVAL_MS, Math.floor((maxStalenessSeconds * 1000) / 3));
}

/** S-1-5-21-a-b-c-RID + primaryGroupID → S-1-5-21-a-b-c-primaryGroupID ([MS-ADTS] §3.1.1.1.3). */
function primaryGroupSid(
  objectSid: string | undefined,
  rid: string | undefined,
): string | undefined {
  if (objectSid === undefined || rid === undefined || !/^\d{1,10}$/.test(rid.trim()))
    return undefined;
  const m = /^(S-1-\d+(?:-\d+)+)-\d+$/.exec(objectSid);
  return m?.[1] === undefined ? undefined : `${m[1]}-${String(Number(rid.trim()))}`;
}

/** A value set in a comparable form (bytes as hex, order ignored). */
function canonical(vals: readonly AttributeValue[] | undefined): string {
  return (vals ?? [])
    .map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('hex'))
    .sort()
    .join(',');
}

function valuesOf(values: AttributeValues, name: string): AttributeValue[] | undefined {
  const direct = values[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(values)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function firstText(values: AttributeValues, name: string): string | undefined {
  const [v] = valuesOf(values, name) ?? [];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

/** The SIDs of `(objectSid=…)` or `(|(objectSid=…)…)`; undefined for any other filter. */
function objectSidLookup(node: FilterNode): Buffer[] | undefined {
  const one = (n: FilterNode): Buffer | undefined =>
    n.op === 'equal' && n.attribute.toLowerCase() === 'objectsid' ? n.value : undefined;
  if (node.op === 'or') {
    const out: Buffer[] = [];
    for (const child of node.children) {
      const v = one(child);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out.length === 0 ? undefined : out;
  }
  const v = one(node);
  return v === undefined ? undefined : [v];
}

export class CachedDirectory implements DirectoryProvider {
  readonly kind = 'ldap' as const;
  readonly #inner: LdapDirectory;
  readonly #config: LdapDirectoryConfig;
  readonly #clock: Clock;
  readonly #logger: DirLogger;
  readonly #onCacheEvent: ((e: DirectoryCacheEvent) => void) | undefined;
  readonly #graph: GroupGraphApi;
  readonly #tracker: ChangeTrackerApi;
  /**
   * The tracker (tests drive it with syncNow()). A field, not a getter: services.ts wraps the directory in a Proxy
   * (instrumentDirectory), through which a getter reading a private field would throw.
   */
  readonly tracker: ChangeTrackerApi;
  readonly #users: UserLru;
  readonly #boundMs: number;
  /** Stored attributes kept with each user: the user read's own plus what the claim rules read. */
  readonly #extraAttributes: string[];
  /** Attributes change tracking reads and compares (lowercase). */
  readonly #trackedAttributes: string[];
  /** Users handed out from the cache: their DN may be stale (see #afterCachedFailure). */
  readonly #served = new WeakSet<DirectoryUser>();
  #started = false;
  /** undefined until the first full read completes or fails; then whether entries are served. */
  #serving: boolean | undefined;
  /** Bumped by every tracked change: a read that overlapped one is not cached (its values may predate it). */
  #changeEpoch = 0;
  #hits = 0;
  #misses = 0;

  constructor(
    inner: LdapDirectory,
    config: LdapDirectoryConfig,
    deps: DirectoryDeps,
    parts: CacheParts,
  ) {
    this.#inner = inner;
    this.#config = config;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#onCacheEvent = deps.onCacheEvent;
    this.#graph = parts.graph;
    this.#boundMs = config.cache.maxStalenessSeconds * 1000;
    this.#users = new UserLru({ maxEntries: config.cache.maxUsers, maxAgeMs: USER_MAX_AGE_MS });
    const stored = new Set(STORED_USER_ATTRIBUTES.map((a) => a.toLowerCase()));
    this.#extraAttributes = [
      ...new Set(
        (deps.cachedAttributes ?? [])
          .filter((a) => /^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(a))
          .filter((a) => !stored.has(a.toLowerCase()))
          // Constructed attributes (tokenGroups, …) are not stored values: the DC computes them for a base read only,
          // and tokenGroups comes from the group graph. Tracked, they would never compare equal to a cold read, and
          // every unrelated change of the user (a first logon's lastLogonTimestamp) would evict the entry.
          .filter((a) => !isConstructedAttribute(a)),
      ),
    ];
    this.#trackedAttributes = [
      ...[...stored].filter((a) => a !== 'distinguishedname' && a !== 'objectguid'),
      ...this.#extraAttributes.map((a) => a.toLowerCase()),
    ];
    this.#tracker = this.tracker = parts.createTracker(
      this.#graph,
      {
        pollIntervalMs: pollIntervalFor(config.cache.maxStalenessSeconds),
        userAttributes: this.#trackedAttributes,
      },
      {
        onUsersChanged: (users) => {
          this.#usersChanged(users);
        },
        onResync: (info) => {
          this.#changeEpoch++;
          this.#users.clear();
          this.#emit({
            action: 'resync',
            reason: info.reason,
            dc: info.dc,
            groups: info.groups,
            durationMs: info.ms,
          });
          this.#checkServing();
        },
        onStateChange: () => {
          this.#checkServing();
        },
      },
    );
  }

  /**
   * Starts change tracking (the first full read of the group graph runs in the background). Called on first use of
   * the directory, so building one for a single CLI look-up reads no group graph before it is needed; the service
   * calls it at start so the graph is warm before the first sign-in.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#tracker.start();
  }

  async authenticate(
    username: string,
    password: string,
    resolved?: { user: DirectoryUser | undefined },
  ): Promise<AuthResult> {
    const parsed = parseSignInName(username, {
      netbiosDomain: this.#config.netbiosDomain,
      upnSuffixes: this.#config.upnSuffixes,
    });
    // Malformed names and empty passwords: the LDAP directory refuses them before any traffic (C4.3, C4.5).
    if (
      !this.#checkServing() ||
      !parsed.ok ||
      typeof password !== 'string' ||
      password.trim() === ''
    )
      return this.#inner.authenticate(username, password, resolved);
    let user: DirectoryUser | undefined;
    let fromCache: boolean;
    if (resolved !== undefined) {
      user = resolved.user;
      fromCache = user !== undefined && this.#served.has(user);
    } else {
      user = this.#lookup(parsed.name);
      fromCache = user !== undefined;
      if (user === undefined) {
        try {
          user = (await this.#coldRead({ name: username }))?.user;
        } catch (err) {
          return { ok: false, kind: 'unavailable', reason: errorReason(err) };
        }
      }
    }
    const result = await this.#inner.authenticate(username, password, { user });
    if (result.ok || !fromCache || user === undefined) return result;
    return this.#afterCachedFailure(username, password, user, result);
  }

  /**
   * A bind with a cached DN failed. The DN may no longer exist (the user was moved, renamed or deleted since it was
   * cached): AD answers 525 (no such user), Samba 52e. Neither counts toward lockout when no account has that DN,
   * so the sign-in is redone cold once. A 52e is redone only when a fresh search finds the account under another
   * DN: when the DN is unchanged the 52e was the password, and a second bind would count twice toward AD lockout
   * (security-corpus C3.1). Every other answer (disabled, locked, expired, …) is the DC's verdict and returned.
   */
  async #afterCachedFailure(
    username: string,
    password: string,
    cached: DirectoryUser,
    result: AuthResult & { ok: false },
  ): Promise<AuthResult> {
    if (result.reason !== 'ad:525' && result.reason !== 'ad:52e') return result;
    this.#users.delete(bytesToGuid(cached.objectGuid));
    let fresh: UserEntryRead | undefined;
    try {
      fresh = await this.#coldRead({ name: username });
    } catch {
      return result;
    }
    if (result.reason === 'ad:52e') {
      if (fresh === undefined)
        return { ok: false, kind: 'bad_credentials', reason: 'no_such_user' };
      if (fresh.user.dn.toLowerCase() === cached.dn.toLowerCase()) return result;
      this.#logger.info(
        { from: cached.dn, to: fresh.user.dn },
        'directory cache: cached DN moved; signing in again with the new one',
      );
    }
    return this.#inner.authenticate(username, password, { user: fresh?.user });
  }

  async findUser(username: string): Promise<DirectoryUser | undefined> {
    const parsed = parseSignInName(username, {
      netbiosDomain: this.#config.netbiosDomain,
      upnSuffixes: this.#config.upnSuffixes,
    });
    if (!this.#checkServing() || !parsed.ok) return this.#inner.findUser(username);
    return this.#lookup(parsed.name) ?? (await this.#coldRead({ name: username }))?.user;
  }

  /**
   * Always the DC's answer (one search), and the cache entry is refreshed from it. This is how fedgate re-checks an
   * account that already holds an SSO session, a refresh token or a pending MFA step, and no bind follows to catch a
   * deleted account: change tracking cannot see deletions (tombstones are hidden from the service account), so a
   * cached entry could outlive its account by up to the entry's maximum age.
   */
  async findByObjectGuid(guid: Buffer): Promise<DirectoryUser | undefined> {
    if (!this.#checkServing() || guid.length !== 16) return this.#inner.findByObjectGuid(guid);
    this.#misses++;
    const read = await this.#coldRead({ guid });
    if (read === undefined) this.#users.delete(bytesToGuid(guid));
    return read?.user;
  }

  async queryAttributes(query: AttributeQuery): Promise<AttributeValues[]> {
    if (!this.#checkServing()) return this.#inner.queryAttributes(query);
    const rows = this.#answerFromCache(query);
    if (rows !== undefined) {
      this.#hits++;
      return rows;
    }
    this.#misses++;
    return this.#inner.queryAttributes(query);
  }

  findByCertificate(query: CertificateMappingQuery): Promise<CertificateAccount[]> {
    return this.#inner.findByCertificate(query);
  }

  readCrl(dn: string): Promise<Buffer | undefined> {
    return this.#inner.readCrl(dn);
  }

  async changePassword(
    username: string,
    oldPassword: string,
    newPassword: string,
  ): Promise<PasswordChangeResult> {
    const result = await this.#inner.changePassword(username, oldPassword, newPassword);
    if (result.ok) {
      // pwdLastSet changed: drop the entry now rather than at the next poll.
      const parsed = parseSignInName(username, { netbiosDomain: this.#config.netbiosDomain });
      if (parsed.ok)
        this.#users.deleteByName(
          parsed.name.form === 'upn'
            ? { upn: parsed.name.upn }
            : { sAMAccountName: parsed.name.sAMAccountName },
        );
    }
    return result;
  }

  readAttribute(dn: string, attribute: string): Promise<string | undefined> {
    return this.#inner.readAttribute(dn, attribute);
  }

  writeAttribute(
    dn: string,
    attribute: string,
    value: string | undefined,
    expected?: { value: string | undefined },
  ): Promise<AttributeWriteResult> {
    return this.#inner.writeAttribute(dn, attribute, value, expected);
  }

  describeAttribute(attribute: string): Promise<AttributeSchema | undefined> {
    return this.#inner.describeAttribute(attribute);
  }

  circuitState(): { url: string; healthy: boolean }[] {
    return this.#inner.circuitState();
  }

  /** Per DC: whether fast concurrent bind is used (ldap.ts FAST_BIND_OID). */
  fastBindSupport(): { url: string; supported: boolean | undefined }[] {
    return this.#inner.fastBindSupport();
  }

  healthCheck(): Promise<DirectoryHealth> {
    return this.#inner.healthCheck();
  }

  /** For /healthz/ready and metrics: no network traffic. */
  cacheStatus(): DirectoryCacheStatus {
    const serving = this.#checkServing();
    const st = this.#tracker.state();
    const stats = this.#graph.stats();
    return {
      enabled: true,
      maxStalenessSeconds: this.#config.cache.maxStalenessSeconds,
      stalenessSeconds:
        st.freshAsOf === undefined ? undefined : (this.#now() - st.freshAsOf) / 1000,
      serving,
      mode: st.mode,
      dc: st.dc,
      users: this.#users.size,
      maxUsers: this.#config.cache.maxUsers,
      groups: stats.groups,
      memberLinks: stats.memberLinks,
      resyncs: st.resyncs,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  async close(): Promise<void> {
    await this.#tracker.close();
    await this.#inner.close();
    this.#users.clear();
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  /**
   * Whether entries are served now, emitting 'degraded' / 'restored' on a change. Evaluated on every call and on
   * every tracker state change, so no timer is needed: a bound passing with no call and no tracker event changes
   * nothing anyone sees, and the next call (or readiness probe, through cacheStatus) reports it.
   */
  #checkServing(): boolean {
    this.start();
    const st = this.#tracker.state();
    const now = this.#now();
    const fresh =
      st.mode !== 'starting' && st.freshAsOf !== undefined && st.freshAsOf >= now - this.#boundMs;
    if (fresh !== this.#serving) {
      if (fresh) {
        if (this.#serving === false) this.#emit(this.#event('restored', 'tracking current', st));
        this.#serving = true;
      } else if (this.#serving === true || st.lastError !== undefined) {
        // Before the first full read, not serving is the normal start, not a degradation (unless it failed).
        this.#emit(this.#event('degraded', st.lastError ?? 'stale', st));
        this.#serving = false;
      }
    }
    return fresh;
  }

  #event(action: 'degraded' | 'restored', reason: string, st: TrackerState): DirectoryCacheEvent {
    return {
      action,
      reason,
      dc: st.dc,
      stalenessSeconds:
        st.freshAsOf === undefined ? undefined : (this.#now() - st.freshAsOf) / 1000,
    };
  }

  #emit(e: DirectoryCacheEvent): void {
    try {
      this.#onCacheEvent?.(e);
    } catch (err) {
      this.#logger.warn({ err: errorReason(err) }, 'directory cache event handler failed');
    }
  }

  /** An entry that may be served: read from the DC tracking follows (USNs are per DC). */
  #servable(entry: CachedUserEntry | undefined): CachedUserEntry | undefined {
    return entry !== undefined && entry.dc === this.#tracker.state().dc ? entry : undefined;
  }

  #lookup(name: SignInName): DirectoryUser | undefined {
    const now = this.#now();
    const entry = this.#servable(
      name.form === 'upn'
        ? this.#users.byUpn(name.upn, now)
        : this.#users.bySam(name.sAMAccountName, now),
    );
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return this.#serve(entry);
  }

  /** A copy of the cached user with its direct groups from the graph; remembered as served from the cache. */
  #serve(entry: CachedUserEntry): DirectoryUser {
    const user: DirectoryUser = {
      ...entry.user,
      groups: this.#graph.directGroups(entry.guid).map((g) => firstRdnValue(g.dn)),
    };
    this.#served.add(user);
    return user;
  }

  /** Search on the DC (the cold path); the entry is cached when it may be served later. */
  async #coldRead(lookup: { name: string } | { guid: Buffer }): Promise<UserEntryRead | undefined> {
    const epoch = this.#changeEpoch;
    // Read from the DC tracking follows when it is healthy: after a failover the LDAP directory returns to its first
    // DC while tracking stays where it moved, and entries from another DC are never cached.
    const read = await this.#inner.findUserEntry(
      lookup,
      this.#extraAttributes,
      this.#tracker.state().dc,
    );
    if (read === undefined) return undefined;
    // Cached only when no tracked change arrived during the read (it may predate it) and it came from the DC
    // tracking follows.
    if (epoch === this.#changeEpoch && read.dc === this.#tracker.state().dc) {
      this.#users.set({
        guid: bytesToGuid(read.user.objectGuid),
        user: detachUser(read.user),
        values: detachValues(read.values),
        dc: read.dc,
        readAt: this.#now(),
      });
    }
    return read;
  }

  /**
   * Drops every cached user whose tracked values differ from what the DC has now. Values are compared, not the
   * fact of a change: AD moves uSNChanged for things the cache does not hold (lastLogonTimestamp, every 9–14 days).
   */
  #usersChanged(users: ChangedUser[]): void {
    if (users.length === 0) return;
    this.#changeEpoch++;
    for (const changed of users) {
      const entry = this.#users.peek(changed.guid);
      if (entry === undefined) {
        // A name taken over by an account not in the cache: whoever holds it here is out of date.
        this.#users.deleteByName({
          upn: firstText(changed.values, 'userPrincipalName'),
          sAMAccountName: firstText(changed.values, 'sAMAccountName'),
        });
        continue;
      }
      if (entry.user.dn !== changed.dn || this.#differs(entry, changed))
        this.#users.delete(changed.guid);
    }
  }

  #differs(entry: CachedUserEntry, changed: ChangedUser): boolean {
    return this.#trackedAttributes.some(
      (a) => canonical(entry.values[a]) !== canonical(valuesOf(changed.values, a)),
    );
  }

  /** The rows the DC would give, when the cache holds all of them; undefined otherwise (ask the DC). */
  #answerFromCache(query: AttributeQuery): AttributeValues[] | undefined {
    let sam: string;
    try {
      sam = accountName(query.account, this.#config.netbiosDomain);
    } catch {
      return undefined; // the LDAP directory reports the error
    }
    if (query.filter === undefined) {
      const entry = this.#servable(this.#users.bySam(sam, this.#now()));
      if (entry === undefined) return undefined;
      const row: AttributeValues = {};
      for (const a of query.attributes) {
        const v = this.#cachedValue(entry, a);
        if (v === undefined) return undefined;
        row[a] = v;
      }
      return [row];
    }
    if (!query.attributes.every((a) => GROUP_LOOKUP_ATTRIBUTES.has(a.toLowerCase())))
      return undefined;
    let sids: Buffer[] | undefined;
    try {
      sids = objectSidLookup(parseLdapFilter(query.filter));
    } catch {
      return undefined;
    }
    if (sids === undefined) return undefined;
    const groups = new Map<string, GroupRecord>();
    for (const bytes of sids) {
      // A filter value is the binary SID (what claims/ad-store.ts sends) or AD's string form S-1-….
      const asText = bytes.toString('latin1');
      const sid = /^S-1-\d+(-\d+)+$/.test(asText) ? asText : sidToString(bytes);
      const group = sid === undefined ? undefined : this.#graph.bySid(sid);
      // Every SID must be a group the graph holds; anything else (a user, a foreign SID) is the DC's to answer.
      if (group === undefined) return undefined;
      groups.set(group.guid, group);
    }
    return [...groups.values()].map((g) => {
      const row: AttributeValues = {};
      for (const a of query.attributes) {
        const lower = a.toLowerCase();
        const sidBytes = g.sid === undefined ? undefined : sidToBytes(g.sid);
        row[a] =
          lower === 'objectsid'
            ? sidBytes === undefined
              ? []
              : [sidBytes]
            : lower === 'samaccountname'
              ? [g.sAMAccountName]
              : [g.dn];
      }
      return row;
    });
  }

  /** One attribute of a cached user as the DC would return it; undefined when the cache does not hold it. */
  #cachedValue(entry: CachedUserEntry, attribute: string): AttributeValue[] | undefined {
    const lower = attribute.toLowerCase();
    if (lower === 'tokengroups') {
      const pg = primaryGroupSid(entry.user.objectSid, firstText(entry.values, 'primaryGroupID'));
      return this.#graph
        .tokenGroups(entry.guid, pg)
        .map((s) => sidToBytes(s))
        .filter((b): b is Buffer => b !== undefined);
    }
    if (lower === 'memberof') return this.#graph.directGroups(entry.guid).map((g) => g.dn);
    if (lower === 'distinguishedname') return [entry.user.dn];
    const v = entry.values[lower];
    return v === undefined ? undefined : [...v];
  }
}

/**
 * A copy of `b` in memory of its own. ldapts hands binary values out as views into the buffer the LDAP message was
 * read into (kilobytes), and Buffer.from() would copy into Node's shared 8 KB pool slab: either way a cached 16-byte
 * objectGUID keeps kilobytes alive for the entry's lifetime (measured with a heap snapshot: 3,000 cached users held
 * about 7,000 such buffers, some 30 MB). allocUnsafeSlow gives the copy its own small allocation.
 */
function detach(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

function detachValues(values: AttributeValues): AttributeValues {
  const out: AttributeValues = {};
  for (const [k, vs] of Object.entries(values))
    out[k] = vs.map((v) => (typeof v === 'string' ? v : detach(v)));
  return out;
}

function detachUser(user: DirectoryUser): DirectoryUser {
  return {
    ...user,
    objectGuid: detach(user.objectGuid),
    consistencyGuid: user.consistencyGuid === undefined ? undefined : detach(user.consistencyGuid),
  };
}

function errorReason(err: unknown): string {
  if (err instanceof Error) {
    const detail = (err as { detail?: unknown }).detail;
    return typeof detail === 'string' ? detail : err.message;
  }
  return String(err);
}
