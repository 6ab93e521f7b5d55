/**
 * Change tracking for the directory cache (issue 22): one full read of every group of the domain, then polls of
 * uSNChanged against the DC's highestCommittedUSN, the way AD's own tools follow a DC without replication rights
 * ([MS-ADTS] §3.1.1.1.9: every originating or replicated write stamps the object's uSNChanged with a USN greater than
 * any before it on that DC). DirSync would need "Replicating Directory Changes" and, with the object-security flag a
 * read-only account needs, returns nothing on Samba; a service account also cannot see tombstones, so deleted groups
 * are found by listing the groups' objectGUIDs every deletion-check interval.
 *
 * USNs are per DC: the watermark belongs to the DC it was read from (its URL and its dsServiceName); reading from any
 * other DC, or a highestCommittedUSN below the watermark (a DC restored from backup), starts a full read. The tracker
 * only reads, on its own connection, and reports its work as tracking_* operations so it is never counted as sign-in
 * work.
 */
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import {
  AndFilter,
  Client,
  EqualityFilter,
  GreaterThanEqualsFilter,
  InvalidCredentialsError,
  PresenceFilter,
  ResultCodeError,
  type Entry,
  type Filter,
} from 'ldapts';
import type { LdapDirectoryConfig } from '../../config/schema.ts';
import type { Clock } from '../../lib/clock.ts';
import { BINARY_ATTRIBUTE_NAMES, domainRootOf, isBinaryAttribute } from '../ad-attributes.ts';
import { bytesToGuid, sidToString } from '../guid.ts';
import type { AttributeValues, DirectoryOperation, DirLogger } from '../types.ts';
import {
  describeLdapError as describe,
  entryBinary as binary,
  entryText as text,
  entryValues,
} from '../ldap-entry.ts';
import { directoryTlsOptions, readDirectoryCa } from '../ldap-tls.ts';
import {
  ExtendedDnControl,
  parseExtendedDn,
  rangedPart,
  readRangedValues,
} from './ldap-controls.ts';
import type {
  ChangedUser,
  ChangeTrackerApi,
  GroupGraphApi,
  GroupRecord,
  TrackerEvents,
  TrackerOptions,
  TrackerState,
} from './types.ts';

const DEFAULT_PAGE_SIZE = 500;
/** busy, unavailable, other: the DC is failing, not refusing this read (as ldap.ts). */
const FAILOVER_CODES = new Set([51, 52, 80]);
const GROUP_ATTRIBUTES = ['objectGUID', 'objectSid', 'sAMAccountName', 'groupType', 'member'];
const GROUP_BINARY = ['objectGUID', 'objectSid'];

type ResyncReason = 'start' | 'dc-switch' | 'usn-regressed';

/** One DC's tracking connection. */
interface TrackedDc {
  url: string;
  client: Client | undefined;
  /** A bind succeeded on this client: a reconnect under it replays the bind (autoRebind). */
  bound: boolean;
  /** The DC database's invocationId, read once per connection (a restore needs a DC restart, which drops it). */
  invocationId: string | undefined;
}

/** The service account itself was refused: never tried on the other DCs, and retried with a back-off. */
class ServiceAccountRejected extends Error {}

/** Where the USN watermark was read: a DC is its URL and its own identity (dsServiceName, the NTDS Settings DN). */
interface Watermark {
  url: string;
  server: string | undefined;
  /** undefined when the account may not read it (then only a USN below the watermark shows a restore). */
  invocationId: string | undefined;
  usn: bigint;
}

/**
 * After the DC refuses the service account's bind, the next try waits this long, doubling per refusal up to
 * BIND_BACKOFF_MAX_MS: each refusal counts toward the account's lockout threshold, and the account is the one every
 * sign-in search uses too.
 */
const BIND_BACKOFF_MIN_MS = 30_000;
const BIND_BACKOFF_MAX_MS = 600_000;

export class ChangeTracker implements ChangeTrackerApi {
  readonly #config: LdapDirectoryConfig;
  readonly #graph: GroupGraphApi;
  readonly #options: TrackerOptions;
  readonly #logger: DirLogger;
  readonly #clock: Clock;
  readonly #onOperation: ((op: DirectoryOperation) => void) | undefined;
  readonly #events: TrackerEvents;
  readonly #tlsOptions: tls.ConnectionOptions;
  readonly #dcs: TrackedDc[];
  readonly #domainRoot: string;
  readonly #pageSize: number;
  readonly #userAttributes: string[];
  readonly #userBinary: string[];
  /** Rejects on close(), so a cycle waiting on a dead socket ends at once. */
  readonly #closing: Promise<never>;
  #signalClosed: (err: Error) => void = () => undefined;

  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Index into #dcs of the DC tracking sticks to (the last one that answered). */
  #current = 0;
  #watermark: Watermark | undefined;
  /** A full read is owed (and why); 'start' until the first one completes. */
  #owed: ResyncReason | undefined = 'start';
  #lastDeletionCheck = Number.NEGATIVE_INFINITY;
  #state: TrackerState = {
    mode: 'starting',
    freshAsOf: undefined,
    dc: undefined,
    usn: undefined,
    resyncs: 0,
  };
  /** Cycles run one at a time: the last one queued. */
  #tail: Promise<void> = Promise.resolve();
  /** A cycle queued and not yet started: callers of syncNow() meanwhile share it. */
  #pending: Promise<void> | undefined;
  #busy = false;
  /** Bind refusals in a row, and the injected-clock time before which no bind is tried again. */
  #bindRefusals = 0;
  #bindRetryAt = Number.NEGATIVE_INFINITY;

  constructor(
    config: LdapDirectoryConfig,
    graph: GroupGraphApi,
    options: TrackerOptions,
    deps: {
      logger: DirLogger;
      clock: Clock;
      baseDir: string;
      onOperation?: ((op: DirectoryOperation) => void) | undefined;
      events?: TrackerEvents | undefined;
    },
  ) {
    this.#config = config;
    this.#graph = graph;
    this.#options = options;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
    this.#onOperation = deps.onOperation;
    this.#events = deps.events ?? {};
    this.#domainRoot = domainRootOf(config.baseDn);
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    const wanted = options.userAttributes.filter(
      (a) => a.toLowerCase() !== 'objectguid' && /^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(a),
    );
    this.#userAttributes = ['objectGUID', ...wanted];
    // ldapts matches these names case-sensitively against what the DC returns: list both spellings (as ldap.ts).
    this.#userBinary = [...BINARY_ATTRIBUTE_NAMES, ...wanted.filter(isBinaryAttribute)];
    this.#closing = new Promise<never>((_, reject) => {
      this.#signalClosed = reject;
    });
    this.#closing.catch(() => undefined);
    // Verified TLS exactly as the directory's own connections (ldap.ts, security-corpus C4.6).
    this.#tlsOptions = directoryTlsOptions(config, readDirectoryCa(config, deps.baseDir));
    this.#dcs = config.urls.map((url) => ({
      url,
      client: undefined,
      bound: false,
      invocationId: undefined,
    }));
  }

  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    void this.syncNow();
    this.#timer = setInterval(() => {
      // A poll still running (a slow full read) is not queued behind: the next tick looks again.
      if (!this.#busy && this.#pending === undefined) void this.syncNow();
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  syncNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#pending !== undefined) return this.#pending;
    const run = this.#tail.then(async () => {
      this.#pending = undefined;
      this.#busy = true;
      try {
        await this.#cycle();
      } catch (err) {
        // #cycle handles DC failures itself; anything else is a bug, which must still not stop the poll loop.
        this.#logger.error({ err: describe(err) }, 'change tracking: poll failed');
      } finally {
        this.#busy = false;
      }
    });
    this.#pending = run;
    this.#tail = run;
    return run;
  }

  state(): TrackerState {
    return { ...this.#state };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#signalClosed(new Error('change tracker closed'));
    await Promise.all(this.#dcs.map((dc) => this.#drop(dc)));
    await this.#tail;
  }

  /** One poll (or the owed full read), trying the DCs from the sticky one on. Never throws. */
  async #cycle(): Promise<void> {
    if (this.#closed) return;
    if (this.#clock.now().getTime() < this.#bindRetryAt) return; // backing off after a refused bind
    const order = this.#dcs.map((_, i) => (this.#current + i) % this.#dcs.length);
    let lastError = 'no domain controller';
    for (const index of order) {
      const dc = this.#dcs[index];
      if (dc === undefined) continue;
      try {
        await this.#syncWith(dc);
        this.#current = index;
        this.#bindRefusals = 0;
        this.#bindRetryAt = Number.NEGATIVE_INFINITY;
        return;
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() can run across the await
        if (this.#closed) return;
        await this.#drop(dc);
        if (err instanceof ServiceAccountRejected) {
          // The same account on the next DC would be refused too, and each try counts toward its lockout.
          const wait = Math.min(
            Math.max(BIND_BACKOFF_MIN_MS, this.#options.pollIntervalMs) * 2 ** this.#bindRefusals,
            BIND_BACKOFF_MAX_MS,
          );
          this.#bindRefusals += 1;
          this.#bindRetryAt = this.#clock.now().getTime() + wait;
          lastError = `${err.message} (next try in ${Math.round(wait / 1000)} s)`;
          this.#logger.error({ url: dc.url, reason: lastError }, 'change tracking: bind refused');
          break;
        }
        lastError = `${dc.url}: ${describe(err)}`;
        this.#logger.warn({ url: dc.url, reason: describe(err) }, 'change tracking: DC failed');
      }
    }
    this.#setState({ mode: 'lost', lastError });
  }

  /** A poll, or a full read when one is owed, against one DC. Throws when the DC fails. */
  async #syncWith(dc: TrackedDc): Promise<void> {
    // Everything the DC committed before this instant is in what follows: the freshness this sync proves.
    const started = this.#clock.now().getTime();
    const client = await this.#connected(dc);
    // The watermark is read BEFORE the searches: a change committed while they run is then read again next time,
    // never skipped.
    const root = await this.#readRoot(dc, client);
    if (dc.invocationId === undefined && root.server !== undefined)
      dc.invocationId = await this.#readInvocationId(dc, client, root.server);
    const previous = this.#watermark;
    let owed = this.#owed;
    if (owed === undefined && previous !== undefined) {
      if (previous.url !== dc.url || previous.server !== root.server) owed = 'dc-switch';
      // A DC restored from backup: its USNs went back, or (restored and written to since) its database has a new
      // invocationId ([MS-ADTS] §3.1.1.1.9, [MS-DRSR] §5.1.1: USN rollback).
      else if (
        root.usn < previous.usn ||
        (previous.invocationId !== undefined && dc.invocationId !== previous.invocationId)
      )
        owed = 'usn-regressed';
    }
    if (owed !== undefined) {
      this.#owed = owed;
      this.#setState({ mode: this.#state.freshAsOf === undefined ? 'starting' : 'resyncing' });
      await this.#fullRead(dc, client, root, started, owed);
      return;
    }
    if (previous === undefined) throw new Error('no watermark'); // unreachable: owed is set until the first read
    const since = previous.usn + 1n;
    for (const group of await this.#readGroups(dc, client, changedSince('group', since)))
      this.#graph.upsert(group);
    const users = await this.#readUsers(dc, client, since);
    if (users.length > 0) this.#emitEvent(() => this.#events.onUsersChanged?.(users));
    if (started - this.#lastDeletionCheck >= this.#deletionCheckMs()) {
      const live = await this.#listGroupGuids(dc, client);
      const dropped = this.#graph.retainOnly(live);
      this.#lastDeletionCheck = started;
      if (dropped > 0) this.#logger.info({ dropped }, 'change tracking: deleted groups dropped');
    }
    this.#watermark = {
      url: dc.url,
      server: root.server,
      invocationId: dc.invocationId,
      usn: root.usn,
    };
    this.#setState({
      mode: 'tracking',
      freshAsOf: started,
      dc: dc.url,
      usn: root.usn.toString(),
      lastError: undefined,
    });
  }

  async #fullRead(
    dc: TrackedDc,
    client: Client,
    root: { usn: bigint; server: string | undefined },
    started: number,
    reason: ResyncReason,
  ): Promise<void> {
    const t0 = performance.now();
    const groups = await this.#readGroups(
      dc,
      client,
      new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
    );
    this.#graph.replaceAll(groups);
    const ms = Math.round(performance.now() - t0);
    this.#watermark = {
      url: dc.url,
      server: root.server,
      invocationId: dc.invocationId,
      usn: root.usn,
    };
    this.#owed = undefined;
    // A full read lists every live group: it is a deletion check too.
    this.#lastDeletionCheck = started;
    this.#logger.info(
      { url: dc.url, reason, groups: groups.length, ms },
      'change tracking: full read',
    );
    this.#setState({
      mode: 'tracking',
      freshAsOf: started,
      dc: dc.url,
      usn: root.usn.toString(),
      resyncs: this.#state.resyncs + 1,
      lastError: undefined,
    });
    this.#emitEvent(() =>
      this.#events.onResync?.({ dc: dc.url, reason, groups: groups.length, ms }),
    );
  }

  /** (config.cache.deletionCheckSeconds ?? maxStalenessSeconds) less one poll interval, so a check is never late. */
  #deletionCheckMs(): number {
    const cache = this.#config.cache;
    const seconds = cache.deletionCheckSeconds ?? cache.maxStalenessSeconds;
    return seconds * 1000 - this.#options.pollIntervalMs;
  }

  /** The tracking client of `dc`, connected and bound with the service account (a new one after any failure). */
  async #connected(dc: TrackedDc): Promise<Client> {
    if (dc.client !== undefined && dc.client.isConnected && dc.client.isBound) return dc.client;
    await this.#drop(dc);
    const client = new Client({
      url: dc.url,
      // security-corpus E2: ldapts has no timeouts unless set.
      timeout: this.#config.timeoutMs,
      connectTimeout: this.#config.connectTimeoutMs,
      tlsOptions: this.#tlsOptions,
      // A reconnect inside a cycle replays the bind, so no search ever runs unauthenticated.
      autoRebind: true,
      createSecureConnection: ((port: number, host: string, options: tls.ConnectionOptions) => {
        this.#emit(dc.url, 'tracking_connect');
        if (dc.bound) this.#emit(dc.url, 'tracking_bind');
        return tls.connect(port, host, options);
      }) as typeof tls.connect,
    });
    dc.client = client;
    this.#emit(dc.url, 'tracking_bind');
    try {
      await this.#race(client.bind(this.#config.bindDn, this.#config.bindPassword));
    } catch (err) {
      if (err instanceof InvalidCredentialsError)
        throw new ServiceAccountRejected(
          `${dc.url}: the DC refused the service account's bind (${describe(err)}); check directory.bindDn and directory.bindPassword`,
        );
      throw err;
    }
    dc.bound = true;
    return client;
  }

  async #drop(dc: TrackedDc): Promise<void> {
    const client = dc.client;
    dc.client = undefined;
    dc.bound = false;
    dc.invocationId = undefined;
    if (client !== undefined) await client.unbind().catch(() => undefined);
  }

  /** rootDSE highestCommittedUSN and dsServiceName (which DC this is, whatever URL reached it). */
  async #readRoot(
    dc: TrackedDc,
    client: Client,
  ): Promise<{ usn: bigint; server: string | undefined }> {
    this.#emit(dc.url, 'tracking_search');
    const { searchEntries } = await this.#race(
      client.search('', {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['highestCommittedUSN', 'dsServiceName'],
      }),
    );
    const entry = searchEntries[0];
    const usn = entry === undefined ? undefined : text(entry, 'highestCommittedUSN');
    if (usn === undefined || !/^\d{1,20}$/.test(usn))
      throw new Error('the rootDSE has no highestCommittedUSN');
    return {
      usn: BigInt(usn),
      server: entry === undefined ? undefined : text(entry, 'dsServiceName'),
    };
  }

  /** invocationId of the DC's NTDS Settings object (dsServiceName), hex; undefined when it cannot be read. */
  async #readInvocationId(
    dc: TrackedDc,
    client: Client,
    server: string,
  ): Promise<string | undefined> {
    this.#emit(dc.url, 'tracking_search');
    try {
      const { searchEntries } = await this.#race(
        client.search(server, {
          scope: 'base',
          filter: new PresenceFilter({ attribute: 'objectClass' }),
          attributes: ['invocationId'],
          explicitBufferAttributes: ['invocationId', 'invocationID'],
        }),
      );
      const v =
        searchEntries[0] === undefined ? undefined : binary(searchEntries[0], 'invocationId');
      return v?.toString('hex');
    } catch (err) {
      // A forest that hides the configuration partition from the account: tracking works without it.
      if (err instanceof ResultCodeError && !FAILOVER_CODES.has(err.code)) return undefined;
      throw err;
    }
  }

  /** Every group matching `filter` in the domain naming context, members by objectGUID (extended DN control). */
  async #readGroups(dc: TrackedDc, client: Client, filter: Filter): Promise<GroupRecord[]> {
    const entries = await this.#pagedSearch(dc, client, this.#domainRoot, {
      filter,
      attributes: GROUP_ATTRIBUTES,
      binary: GROUP_BINARY,
      extendedDn: true,
    });
    const out: GroupRecord[] = [];
    for (const entry of entries) {
      const record = await this.#toGroup(dc, client, entry);
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  async #toGroup(dc: TrackedDc, client: Client, entry: Entry): Promise<GroupRecord | undefined> {
    const guidBytes = binary(entry, 'objectGUID');
    const dn = parseExtendedDn(entry.dn).dn;
    if (guidBytes?.length !== 16 || dn === '') {
      this.#logger.warn({ dn }, 'change tracking: a group without objectGUID skipped');
      return undefined;
    }
    const sidBytes = binary(entry, 'objectSid');
    let memberValues = entryValues(entry, 'member');
    const ranged = rangedPart(entry, 'member');
    if (ranged !== undefined) {
      // More members than the DC's MaxValRange: the rest by base reads of member;range=N-* (unverified on real AD).
      memberValues = await readRangedValues(
        async (base, attribute) => {
          this.#emit(dc.url, 'tracking_search');
          const { searchEntries } = await this.#race(
            client.search(
              base,
              {
                scope: 'base',
                filter: new PresenceFilter({ attribute: 'objectClass' }),
                attributes: [attribute],
              },
              new ExtendedDnControl(),
            ),
          );
          return searchEntries[0];
        },
        dn,
        'member',
        ranged,
      );
    }
    const members: string[] = [];
    for (const v of memberValues) {
      // Only members the DC names by objectGUID are kept: a DN alone could go stale on a rename.
      const guid = parseExtendedDn(typeof v === 'string' ? v : v.toString('utf8')).guid;
      if (guid !== undefined) members.push(guid);
    }
    const groupType = Number.parseInt(text(entry, 'groupType') ?? '0', 10);
    return {
      guid: bytesToGuid(guidBytes),
      dn,
      sid: sidBytes === undefined ? undefined : sidToString(sidBytes),
      sAMAccountName: text(entry, 'sAMAccountName') ?? '',
      // AD stores groupType as a signed 32-bit integer; normalise whatever form came back.
      groupType: Number.isFinite(groupType) ? groupType | 0 : 0,
      members,
    };
  }

  async #readUsers(dc: TrackedDc, client: Client, since: bigint): Promise<ChangedUser[]> {
    const entries = await this.#pagedSearch(dc, client, this.#config.baseDn, {
      filter: changedSince('user', since),
      attributes: this.#userAttributes,
      binary: this.#userBinary,
      extendedDn: false,
    });
    const out: ChangedUser[] = [];
    for (const entry of entries) {
      const guidBytes = binary(entry, 'objectGUID');
      if (guidBytes?.length !== 16) continue;
      const values: AttributeValues = {};
      for (const name of this.#options.userAttributes) {
        const ranged = rangedPart(entry, name);
        values[name] =
          ranged === undefined
            ? entryValues(entry, name)
            : await readRangedValues(
                async (base, attribute) => {
                  this.#emit(dc.url, 'tracking_search');
                  const { searchEntries } = await this.#race(
                    client.search(base, {
                      scope: 'base',
                      filter: new PresenceFilter({ attribute: 'objectClass' }),
                      attributes: [attribute],
                      explicitBufferAttributes: this.#userBinary,
                    }),
                  );
                  return searchEntries[0];
                },
                entry.dn,
                name,
                ranged,
              );
      }
      out.push({ guid: bytesToGuid(guidBytes), dn: entry.dn, values });
    }
    return out;
  }

  /** Deletion check: the objectGUID of every group of the domain, all pages. */
  async #listGroupGuids(dc: TrackedDc, client: Client): Promise<Set<string>> {
    const entries = await this.#pagedSearch(dc, client, this.#domainRoot, {
      filter: new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
      attributes: ['objectGUID'],
      binary: ['objectGUID'],
      extendedDn: false,
    });
    const live = new Set<string>();
    for (const entry of entries) {
      const guid = binary(entry, 'objectGUID');
      if (guid?.length === 16) live.add(bytesToGuid(guid));
    }
    return live;
  }

  /** A subtree search over every page (RFC 2696), one tracking_search per page. */
  async #pagedSearch(
    dc: TrackedDc,
    client: Client,
    base: string,
    q: { filter: Filter; attributes: string[]; binary: string[]; extendedDn: boolean },
  ): Promise<Entry[]> {
    const pages = client.searchPaginated(
      base,
      {
        scope: 'sub',
        filter: q.filter,
        attributes: q.attributes,
        explicitBufferAttributes: q.binary,
        paged: { pageSize: this.#pageSize },
      },
      q.extendedDn ? new ExtendedDnControl() : undefined,
    );
    const out: Entry[] = [];
    this.#emit(dc.url, 'tracking_search');
    let page = 0;
    for (;;) {
      const next = await this.#race(pages.next());
      if (next.done === true) break;
      // The first page was reported above; each later page is another request to the DC.
      if (page > 0) this.#emit(dc.url, 'tracking_search');
      page += 1;
      out.push(...next.value.searchEntries);
    }
    return out;
  }

  #race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.#closing]);
  }

  #setState(change: Partial<TrackerState>): void {
    if (this.#closed) return;
    const before = this.#state.mode;
    this.#state = { ...this.#state, ...change };
    if (this.#state.mode !== before) {
      const snapshot = this.state();
      this.#emitEvent(() => this.#events.onStateChange?.(snapshot));
    }
  }

  /** A listener that throws must not stop tracking. */
  #emitEvent(fn: () => void): void {
    if (this.#closed) return;
    try {
      fn();
    } catch (err) {
      this.#logger.error({ err: describe(err) }, 'change tracking: an event listener threw');
    }
  }

  #emit(url: string, op: DirectoryOperation['op']): void {
    this.#onOperation?.({ url, op });
  }
}

/** (&(objectClass=group)(uSNChanged>=N)) or the person filter ldap.ts uses, with uSNChanged>=N. */
function changedSince(kind: 'group' | 'user', since: bigint): Filter {
  const usn = new GreaterThanEqualsFilter({ attribute: 'uSNChanged', value: since.toString() });
  return new AndFilter({
    filters:
      kind === 'group'
        ? [new EqualityFilter({ attribute: 'objectClass', value: 'group' }), usn]
        : [
            new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
            new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
            usn,
          ],
  });
}
