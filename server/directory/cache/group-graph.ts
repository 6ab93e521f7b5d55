/**
 * The domain's group graph in memory, and the transitive membership AD's constructed tokenGroups attribute gives
 * ([MS-ADTS] §3.1.1.4.5.19), computed from it instead of a tokenGroups read on the DC (issue 22).
 *
 * Hand-written: no library models AD group graphs (GUID-keyed `member` links, SID-keyed primary groups, only security
 * groups expanded), and a general graph library would hold far more per edge than the few bytes this needs.
 *
 * Memory (10,000 users in 2,000 groups): every GUID string is interned once and given a small integer id; the reverse
 * index (member id → ids of the groups whose `member` holds it) is a plain array per member; each group keeps its
 * `members` as an array of the interned strings. An id nobody refers to any more (no group lists it, it is no group)
 * is freed at once, so churn over weeks does not grow the tables. Measured (Node 20, heap): 2.5 MB for 2,000 groups
 * holding 10,000 users five times each plus 4,000 nestings (53,000 links), DNs and SIDs included.
 *
 * What the DC does, measured on the Samba AD DC with ldapsearch of tokenGroups (and compared with this graph after
 * every change of a random graph in tests/integration/directory-cache-graph.test.ts):
 *  - only security groups (groupType & 0x80000000) are in tokenGroups, and only they are expanded: a distribution
 *    group in the middle of a chain BREAKS the chain (user ∈ distribution D ∈ security S: S is not in tokenGroups);
 *  - the primary group (by SID, from primaryGroupID) is a start point like a direct group: its SID and its own
 *    nesting count when it is a security group; a distribution primary group (Samba accepts one; AD's tools offer
 *    only global and universal security groups) adds nothing and is not expanded;
 *  - domain-local groups are included (tokenGroups, unlike tokenGroupsGlobalAndUniversal), so are BUILTIN groups
 *    reached through nesting (Domain Users ∈ BUILTIN\Users gives S-1-5-32-545), as they are groups of the domain NC;
 *  - cycles (Samba even accepts a group in its own `member`) are legal: each group is visited once;
 *  - the member's own SID is never in its tokenGroups.
 * memberOf (directGroups) lists every group type.
 */
import type { GroupGraphApi, GroupGraphStats, GroupRecord, GuidKey } from './types.ts';
import { GROUP_TYPE_SECURITY } from './types.ts';

const isSecurity = (groupType: number): boolean => (groupType & GROUP_TYPE_SECURITY) !== 0;

/**
 * One member's parents (the groups whose `member` holds it): most users and groups are in a handful of groups, often
 * one, so a single parent is kept as the number itself and several as an exact-size array (concat and slice allocate
 * exactly; push, spread and filter leave spare slots: measured, that was a third of the graph's memory).
 */
type Parents = number | readonly number[] | undefined;

export class GroupGraph implements GroupGraphApi {
  /** GUID → id; an id lives while a group has that GUID or some group's `member` holds it. */
  readonly #ids = new Map<GuidKey, number>();
  /** id → GUID (the one interned string). */
  #guids: (GuidKey | undefined)[] = [];
  /** id → the group with that GUID (frozen, members interned and de-duplicated), when it is a group. */
  #groups: (Readonly<GroupRecord> | undefined)[] = [];
  /** id → the ids of the groups whose `member` holds it: the reverse index, i.e. its memberOf. */
  #parents: Parents[] = [];
  #free: number[] = [];
  readonly #bySid = new Map<string, number>();
  #groupCount = 0;
  #memberLinks = 0;
  /** Walk marks: #seen[id] === #epoch means visited in the current walk (no Set allocated per call). */
  #seen = new Uint32Array(64);
  #epoch = 0;

  replaceAll(groups: Iterable<GroupRecord>): void {
    this.#ids.clear();
    this.#guids = [];
    this.#groups = [];
    this.#parents = [];
    this.#free = [];
    this.#bySid.clear();
    this.#groupCount = 0;
    this.#memberLinks = 0;
    this.#seen = new Uint32Array(64);
    this.#epoch = 0;
    for (const g of groups) this.upsert(g);
  }

  upsert(group: GroupRecord): void {
    const id = this.#intern(group.guid.toLowerCase());
    const old = this.#groups[id];
    // New members first (interning them), so ids shared with the old record are never freed in between.
    const members: GuidKey[] = [];
    const taken = new Set<number>();
    for (const m of group.members) {
      const mid = this.#intern(m.toLowerCase());
      if (taken.has(mid)) continue;
      taken.add(mid);
      members.push(this.#guids[mid] as GuidKey);
    }
    const before = new Set<number>();
    if (old !== undefined) {
      for (const m of old.members) {
        const mid = this.#ids.get(m) as number;
        before.add(mid);
        if (!taken.has(mid)) this.#unlink(mid, id);
      }
      this.#unmapSid(id, old);
      this.#memberLinks -= old.members.length;
    } else {
      this.#groupCount++;
    }
    for (const mid of taken) {
      if (!before.has(mid)) this.#link(mid, id);
    }
    const record: GroupRecord = {
      guid: this.#guids[id] as GuidKey,
      dn: group.dn,
      sid: group.sid,
      sAMAccountName: group.sAMAccountName,
      groupType: group.groupType | 0,
      // slice: an exact-size copy (the pushed array keeps up to half again as many slots spare).
      members: Object.freeze(members.slice()) as GuidKey[],
    };
    this.#groups[id] = Object.freeze(record);
    this.#memberLinks += members.length;
    if (record.sid !== undefined) this.#bySid.set(record.sid, id);
  }

  remove(guid: GuidKey): void {
    const id = this.#ids.get(guid.toLowerCase());
    if (id !== undefined) this.#removeId(id);
  }

  retainOnly(live: ReadonlySet<GuidKey>): number {
    const doomed: number[] = [];
    this.#groups.forEach((record, id) => {
      if (record !== undefined && !live.has(record.guid)) doomed.push(id);
    });
    for (const id of doomed) this.#removeId(id);
    return doomed.length;
  }

  directGroups(memberGuid: GuidKey): GroupRecord[] {
    const id = this.#ids.get(memberGuid.toLowerCase());
    if (id === undefined) return [];
    const out: GroupRecord[] = [];
    const parents = this.#parents[id];
    for (const gid of typeof parents === 'number' ? [parents] : (parents ?? [])) {
      const record = this.#groups[gid];
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  tokenGroups(memberGuid: GuidKey, primaryGroupSid: string | undefined): string[] {
    const epoch = this.#nextEpoch();
    const seen = this.#seen;
    const stack: number[] = [];
    const self = this.#ids.get(memberGuid.toLowerCase());
    if (self !== undefined) {
      // The member itself counts as visited: a group member in a cycle never lists its own SID.
      seen[self] = epoch;
      this.#pushParents(self, stack, epoch);
    }
    if (primaryGroupSid !== undefined) {
      const pid = this.#bySid.get(primaryGroupSid);
      if (pid !== undefined) stack.push(pid);
    }
    const sids: string[] = [];
    // Depth-first with an explicit stack: nesting depth is the directory's, never the JS stack's.
    for (let gid = stack.pop(); gid !== undefined; gid = stack.pop()) {
      if (seen[gid] === epoch) continue;
      seen[gid] = epoch;
      const record = this.#groups[gid];
      // Not a group the graph holds, or a distribution group: neither listed nor expanded (as the DC).
      if (record === undefined || !isSecurity(record.groupType)) continue;
      if (record.sid !== undefined) sids.push(record.sid);
      this.#pushParents(gid, stack, epoch);
    }
    return sids;
  }

  bySid(sid: string): GroupRecord | undefined {
    const id = this.#bySid.get(sid);
    return id === undefined ? undefined : this.#groups[id];
  }

  byGuid(guid: GuidKey): GroupRecord | undefined {
    const id = this.#ids.get(guid.toLowerCase());
    return id === undefined ? undefined : this.#groups[id];
  }

  stats(): GroupGraphStats {
    return { groups: this.#groupCount, memberLinks: this.#memberLinks };
  }

  #pushParents(id: number, stack: number[], epoch: number): void {
    const parents = this.#parents[id];
    if (typeof parents === 'number') {
      if (this.#seen[parents] !== epoch) stack.push(parents);
    } else if (parents !== undefined) {
      for (const p of parents) if (this.#seen[p] !== epoch) stack.push(p);
    }
  }

  #removeId(id: number): void {
    const record = this.#groups[id];
    if (record === undefined) return;
    this.#groups[id] = undefined;
    this.#groupCount--;
    this.#memberLinks -= record.members.length;
    this.#unmapSid(id, record);
    for (const m of record.members) this.#unlink(this.#ids.get(m) as number, id);
    this.#release(id);
  }

  #unmapSid(id: number, record: Readonly<GroupRecord>): void {
    // Only when the SID still names this group (a later record may have taken it).
    if (record.sid !== undefined && this.#bySid.get(record.sid) === id)
      this.#bySid.delete(record.sid);
  }

  #link(mid: number, groupId: number): void {
    const parents = this.#parents[mid];
    this.#parents[mid] =
      parents === undefined
        ? groupId
        : typeof parents === 'number'
          ? [parents, groupId]
          : parents.concat(groupId);
  }

  /** Drops `groupId` from member `mid`'s parents, then frees `mid` if nothing refers to it. */
  #unlink(mid: number, groupId: number): void {
    const parents = this.#parents[mid];
    if (parents === groupId) {
      this.#parents[mid] = undefined;
    } else if (typeof parents === 'object') {
      const rest = parents.filter((p) => p !== groupId);
      this.#parents[mid] = rest.length === 1 ? rest[0] : rest.slice();
    }
    this.#release(mid);
  }

  #intern(guid: GuidKey): number {
    const known = this.#ids.get(guid);
    if (known !== undefined) return known;
    const id = this.#free.pop() ?? this.#guids.length;
    this.#ids.set(guid, id);
    this.#guids[id] = guid;
    if (id >= this.#seen.length) {
      const grown = new Uint32Array(Math.max(this.#seen.length * 2, id + 1));
      grown.set(this.#seen);
      this.#seen = grown;
    }
    return id;
  }

  /** Frees an id no group has and no `member` holds. */
  #release(id: number): void {
    if (this.#groups[id] !== undefined || this.#parents[id] !== undefined) return;
    const guid = this.#guids[id];
    if (guid === undefined) return;
    this.#ids.delete(guid);
    this.#guids[id] = undefined;
    this.#free.push(id);
  }

  #nextEpoch(): number {
    this.#epoch = (this.#epoch + 1) >>> 0;
    if (this.#epoch === 0) {
      // Wrapped after 2^32 walks: old marks could equal new epochs.
      this.#seen.fill(0);
      this.#epoch = 1;
    }
    return this.#epoch;
  }
}
