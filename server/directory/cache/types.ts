/**
 * The directory cache's shared contract (issue 22): a change-tracked group graph and a bounded user LRU in front of
 * the LDAP directory, so a warm sign-in costs the DC one bind. Pieces:
 *  - group-graph.ts: every group of the domain (GroupRecord) and the transitive membership AD's tokenGroups gives;
 *  - tracker.ts: reads every group once, then keeps the graph current by polling uSNChanged against the DC's
 *    highestCommittedUSN (per DC: a DC switch is a full resync), and tells the cache which users changed;
 *  - cached-directory.ts: the DirectoryProvider wrapper (user LRU, warm/cold sign-ins, direct reads when stale).
 * Security state (disabled, locked, expired, must-change, the password itself) is never decided from the cache: the
 * bind decides it on the DC every time.
 */
import type { AttributeValues } from '../types.ts';

/** A GUID key: the lowercase .NET string form (bytesToGuid), as the extended DN control's <GUID=…> gives it. */
export type GuidKey = string;

/** groupType bit 0x80000000: a security group (only these are in tokenGroups, [MS-ADTS] §3.1.1.4.5.19). */
export const GROUP_TYPE_SECURITY = 0x80000000;

/** One group as the graph holds it (every group of the domain naming context, security and distribution). */
export interface GroupRecord {
  guid: GuidKey;
  /** Current DN (for memberOf and the long domain-qualified name). */
  dn: string;
  /** objectSid as S-1-5-…; undefined only for a group the DC returned without one. */
  sid: string | undefined;
  sAMAccountName: string;
  /** groupType as a signed 32-bit integer, as AD stores it (security groups are negative). */
  groupType: number;
  /**
   * The objectGUIDs of the values of `member` (from the extended DN control, so renames and moves of members never
   * leave a stale link). Members of any kind: users, groups, contacts, foreign security principals.
   */
  members: GuidKey[];
}

export interface GroupGraphStats {
  groups: number;
  /** Sum of members over all groups. */
  memberLinks: number;
}

/** In-memory group graph. Never recursive: transitive walks are iterative with a visited set (cycles are legal in AD). */
export interface GroupGraphApi {
  /** Full resync: the graph becomes exactly these groups. */
  replaceAll(groups: Iterable<GroupRecord>): void;
  /** A group created or changed (its record replaces the old one, members included). */
  upsert(group: GroupRecord): void;
  remove(guid: GuidKey): void;
  /** Deletion reconcile: drops every group whose GUID is not in `live`; returns how many were dropped. */
  retainOnly(live: ReadonlySet<GuidKey>): number;
  /** Groups whose `member` holds `memberGuid` (what the member's memberOf lists: every group type). */
  directGroups(memberGuid: GuidKey): GroupRecord[];
  /**
   * What AD's tokenGroups holds for the member: the SIDs of every security group reached from its direct groups and
   * its primary group (by SID), through nested security groups only, each once. Never the member's own SID.
   */
  tokenGroups(memberGuid: GuidKey, primaryGroupSid: string | undefined): string[];
  bySid(sid: string): GroupRecord | undefined;
  byGuid(guid: GuidKey): GroupRecord | undefined;
  stats(): GroupGraphStats;
}

/** A user the tracker saw change since the last poll, with the attributes the cache asked for. */
export interface ChangedUser {
  guid: GuidKey;
  dn: string;
  /** The attributes named in TrackerOptions.userAttributes, as read (binary ones as Buffer). */
  values: AttributeValues;
}

export type TrackerMode =
  /** First full read not finished. */
  | 'starting'
  /** Polling normally. */
  | 'tracking'
  /** A full read is running after a DC switch or a USN going backwards; the graph keeps its last state meanwhile. */
  | 'resyncing'
  /** The last poll failed (no DC answered); retried at the poll interval. */
  | 'lost';

export interface TrackerState {
  mode: TrackerMode;
  /**
   * Injected-clock epoch ms at which the last successful sync STARTED: every change the DC had committed by then is
   * applied. undefined until the first full read completes. The cache serves entries only while
   * now − freshAsOf ≤ maxStaleness.
   */
  freshAsOf: number | undefined;
  /** URL of the DC the USN watermark belongs to. */
  dc: string | undefined;
  /** Watermark: the DC's highestCommittedUSN at the last successful sync (decimal string). */
  usn: string | undefined;
  /** Full reads done since start (the first included). */
  resyncs: number;
  /** Why the last poll or resync failed, for logs and /healthz/ready (no secrets). */
  lastError?: string | undefined;
}

export interface TrackerEvents {
  /** Users under directory.baseDn whose entry changed (uSNChanged moved) since the previous poll. */
  onUsersChanged?: ((users: ChangedUser[]) => void) | undefined;
  /** After each full read completes (first included): everything cached about users must be dropped. */
  onResync?:
    | ((info: {
        dc: string;
        reason: 'start' | 'dc-switch' | 'usn-regressed';
        groups: number;
        ms: number;
      }) => void)
    | undefined;
  /** Every mode change. */
  onStateChange?: ((state: TrackerState) => void) | undefined;
}

export interface TrackerOptions {
  /** Milliseconds between polls (the cache derives it from maxStalenessSeconds). */
  pollIntervalMs: number;
  /** User attributes returned with ChangedUser (objectGUID is always read). */
  userAttributes: readonly string[];
  /** Paged-search page size for full reads and polls (RFC 2696). */
  pageSize?: number | undefined;
}

export interface ChangeTrackerApi {
  /** Starts the first full read and the poll loop in the background; never throws, never rejects. */
  start(): void;
  /** Runs one poll (or the pending full read) now and resolves when it has finished (tests, and after failover). */
  syncNow(): Promise<void>;
  state(): TrackerState;
  close(): Promise<void>;
}

/** What the cache reports (/healthz/ready, metrics). */
export interface DirectoryCacheStatus {
  enabled: boolean;
  maxStalenessSeconds: number;
  /** now − freshAsOf in seconds; undefined before the first full read. */
  stalenessSeconds: number | undefined;
  /** true while entries are served (fresh within the bound); false: every read goes to the DC. */
  serving: boolean;
  mode: TrackerMode | 'off';
  dc: string | undefined;
  users: number;
  maxUsers: number;
  groups: number;
  memberLinks: number;
  resyncs: number;
  hits: number;
  misses: number;
}
