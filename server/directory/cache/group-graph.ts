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
 * is freed at once, so churn over weeks does not grow the tables.
 *
 * What the DC does, measured on Samba 4 (tests/integration/directory-cache-graph.test.ts) and matching its
 * dsdb_expand_nested_groups, which walks memberOf with a security-group filter:
 *  - only security groups (groupType & 0x80000000) are in tokenGroups, and only they are expanded: a distribution
 *    group in the middle of a chain BREAKS the chain (user ∈ distribution D ∈ security S: S is not in tokenGroups);
 *  - the primary group (by SID, from primaryGroupID) is a start point like a direct group: its SID and its own
 *    nesting count when it is a security group; a distribution primary group (Samba accepts one, AD does not) adds
 *    nothing and is not expanded;
 *  - domain-local groups are included (tokenGroups, unlike tokenGroupsGlobalAndUniversal), so are BUILTIN groups
 *    reached through nesting (Domain Users ∈ BUILTIN\Users gives S-1-5-32-545), as they are groups of the domain NC;
 *  - cycles (Samba even accepts a group in its own `member`) are legal: each group is visited once;
 *  - the member's own SID is never in its tokenGroups.
 * memberOf (directGroups) lists every group type.
 */
import type { GroupGraphApi, GroupGraphStats, GroupRecord, GuidKey } from './types.ts';
import { GROUP_TYPE_SECURITY } from './types.ts';

/** A stored group: frozen, members interned and de-duplicated. */
interface GroupNode {
  readonly id: number;
  readonly record: Readonly<GroupRecord>;
  /** Ids of `record.members`, in the same order. */
  readonly memberIds: readonly number[];
}

const isSecurity = (groupType: number): boolean => (groupType & GROUP_TYPE_SECURITY) !== 0;

export class GroupGraph implements GroupGraphApi {
  /** GUID → id; an id lives while a group has that GUID or some group's `member` holds it. */
  readonly #ids = new Map<GuidKey, number>();
  /** id → GUID (the one interned string). */
  #guids: (GuidKey | undefined)[] = [];
  /** id → the group with that GUID, when it is a group the graph holds. */
  #groups: (GroupNode | undefined)[] = [];
  /** id → ids of the groups whose `member` holds it (the reverse index: its memberOf). */
  #parents: (number[] | undefined)[] = [];
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
    const guid = group.guid.toLowerCase();
    const id = this.#intern(guid);
    const old = this.#groups[id];
    // New members first (interning them), so ids shared with the old record are never freed in between.
    const memberIds: number[] = [];
    const members: GuidKey[] = [];
    const taken = new Set<number>();
    for (const m of group.members) {
      const mid = this.#intern(m.toLowerCase());
      if (taken.has(mid)) continue;
      taken.add(mid);
      memberIds.push(mid);
      members.push(this.#guids[mid] as GuidKey);
    }
    if (old !== undefined) {
      for (const mid of old.memberIds) {
        if (!taken.has(mid)) this.#unlink(mid, id);
      }
      this.#unmapSid(old);
      this.#memberLinks -= old.memberIds.length;
    } else {
      this.#groupCount++;
    }
    const before = new Set(old?.memberIds);
    for (const mid of memberIds) {
      if (!before.has(mid)) (this.#parents[mid] ??= []).push(id);
    }
    const record: GroupRecord = {
      guid: this.#guids[id] as GuidKey,
      dn: group.dn,
      sid: group.sid,
      sAMAccountName: group.sAMAccountName,
      groupType: group.groupType | 0,
      members: Object.freeze(members) as GuidKey[],
    };
    const node: GroupNode = { id, record: Object.freeze(record), memberIds };
    this.#groups[id] = node;
    this.#memberLinks += memberIds.length;
    if (record.sid !== undefined) this.#bySid.set(record.sid, id);
  }

  remove(guid: GuidKey): void {
    const id = this.#ids.get(guid.toLowerCase());
    if (id !== undefined) this.#removeId(id);
  }

  retainOnly(live: ReadonlySet<GuidKey>): number {
    const doomed: number[] = [];
    for (const node of this.#groups) {
      if (node !== undefined && !live.has(node.record.guid)) doomed.push(node.id);
    }
    for (const id of doomed) this.#removeId(id);
    return doomed.length;
  }

  directGroups(memberGuid: GuidKey): GroupRecord[] {
    const id = this.#ids.get(memberGuid.toLowerCase());
    if (id === undefined) return [];
    const out: GroupRecord[] = [];
    for (const gid of this.#parents[id] ?? []) {
      const node = this.#groups[gid];
      if (node !== undefined) out.push(node.record);
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
      for (const gid of this.#parents[self] ?? []) stack.push(gid);
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
      const node = this.#groups[gid];
      // Not a group the graph holds, or a distribution group: neither listed nor expanded (as the DC).
      if (node === undefined || !isSecurity(node.record.groupType)) continue;
      if (node.record.sid !== undefined) sids.push(node.record.sid);
      for (const parent of this.#parents[gid] ?? []) {
        if (seen[parent] !== epoch) stack.push(parent);
      }
    }
    return sids;
  }

  bySid(sid: string): GroupRecord | undefined {
    const id = this.#bySid.get(sid);
    return id === undefined ? undefined : this.#groups[id]?.record;
  }

  byGuid(guid: GuidKey): GroupRecord | undefined {
    const id = this.#ids.get(guid.toLowerCase());
    return id === undefined ? undefined : this.#groups[id]?.record;
  }

  stats(): GroupGraphStats {
    return { groups: this.#groupCount, memberLinks: this.#memberLinks };
  }

  #removeId(id: number): void {
    const node = this.#groups[id];
    if (node === undefined) return;
    this.#groups[id] = undefined;
    this.#groupCount--;
    this.#memberLinks -= node.memberIds.length;
    this.#unmapSid(node);
    for (const mid of node.memberIds) this.#unlink(mid, id);
    this.#release(id);
  }

  #unmapSid(node: GroupNode): void {
    const sid = node.record.sid;
    // Only when the SID still names this group (a later record may have taken it).
    if (sid !== undefined && this.#bySid.get(sid) === node.id) this.#bySid.delete(sid);
  }

  /** Drops `groupId` from member `mid`'s parents, then frees `mid` if nothing refers to it. */
  #unlink(mid: number, groupId: number): void {
    const parents = this.#parents[mid];
    if (parents !== undefined) {
      const at = parents.indexOf(groupId);
      if (at >= 0) {
        // Order is irrelevant: swap with the last and pop (O(1) after the search).
        parents[at] = parents[parents.length - 1] as number;
        parents.pop();
      }
      if (parents.length === 0) this.#parents[mid] = undefined;
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
      const grown = new Uint32Array(Math.max(64, this.#seen.length * 2, id + 1));
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
    // A stale mark must not make a reused id look visited: clear it.
    this.#seen[id] = 0;
    this.#free.push(id);
  }

  #nextEpoch(): number {
    this.#epoch = (this.#epoch + 1) >>> 0;
    if (this.#epoch === 0) {
      this.#seen.fill(0);
      this.#epoch = 1;
    }
    return this.#epoch;
  }
}
