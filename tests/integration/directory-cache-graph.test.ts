/**
 * The directory cache's group graph (issue 22) against the Samba AD DC: random group graphs are made in AD as
 * Administrator (OU=CacheGraph), the ChangeTracker follows them into a GroupGraph, and after EVERY change, for every
 * user of the OU, the graph's tokenGroups equals the DC's own constructed tokenGroups and its directGroups equals the
 * user's memberOf, both read independently with the OpenLDAP ldapsearch CLI (base scope, as AD requires for
 * constructed attributes, [MS-ADTS] §3.1.1.4.5) and decoded here, not by fedgate.
 *
 * The graph: ~8 users and ~12 groups of every scope and both kinds, nested as AD permits (a global group holds global
 * groups, a universal group global and universal ones, a domain-local group all three; Samba itself enforces none of
 * this, and even accepts a group in its own member list), with cycles, a distribution group in the middle of a chain,
 * and non-default primary groups (set as in ADUC: the user is made a member first, then primaryGroupID is set; the DC
 * then drops that member value and makes the user an explicit member of the old primary group). Then ~25 random
 * changes: members added and removed, groups nested, cycles closed, groups renamed (modrdn), deleted and created,
 * primary groups changed.
 *
 * Random: a seeded PRNG; the seed is printed (t.diagnostic) and FEDGATE_SEED=<n> replays a run.
 * Time: the tracker runs on a FixedClock; each change happens one second later on it, and the comparison is made only
 * once the tracker's freshAsOf (the injected-clock start of its last successful sync) is at or after the change. A
 * deletion moves the clock past deletionCheckSeconds first, so the tracker's deletion check is due.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { NoSuchObjectError, type Client } from 'ldapts';
import { pino } from 'pino';
import { GroupGraph } from '../../server/directory/cache/group-graph.ts';
import { ChangeTracker } from '../../server/directory/cache/tracker.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { SeededRandom } from '../../server/lib/random.ts';
import { adminClient } from '../helpers/doctor-seed.ts';
import {
  EXTENDED_DN_CLI,
  ldapsearchCli,
  ldapToolAsAdmin,
  ldifTexts,
  parseLdifEntries,
  sambaEnv,
  sambaLdapConfig,
  splitExtendedDn,
  type LdifEntry,
} from '../helpers/samba.ts';

const env = sambaEnv();
const OU = `OU=CacheGraph,${env.baseDn}`;
/** sAMAccountName prefix: names are unique in the whole domain. */
const P = 'cgr-';
const DELETION_CHECK_S = 5;
const USERS = 8;
const GROUPS = 12;
const CHANGES = 25;

// ---------------------------------------------------------------------------------------------------------------
// Randomness: the project's seeded test generator, so a failing run can be replayed.

const SEED =
  process.env.FEDGATE_SEED === undefined ? randomInt(1, 2 ** 31) : Number(process.env.FEDGATE_SEED);
if (!Number.isInteger(SEED) || SEED < 1) throw new Error('FEDGATE_SEED must be a positive integer');
const generator = new SeededRandom(SEED);
/** In [0, 1). */
const random = (): number => generator.bytes(4).readUInt32LE(0) / 2 ** 32;
const below = (n: number): number => Math.floor(random() * n);
function pick<T>(xs: readonly T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[below(xs.length)];
}

// ---------------------------------------------------------------------------------------------------------------
// Independent reads: ldapsearch LDIF, the extended DN control for GUIDs and SIDs as the DC prints them.

interface Named {
  guid: string;
  sid: string | undefined;
  dn: string;
}

const extended = (value: string): Named => splitExtendedDn(value);

/** objectSid bytes → S-1-… ([MS-DTYP] §2.4.2.2), decoded here so the expectation owes nothing to fedgate. */
function sidText(b: Buffer): string {
  const subs: number[] = [];
  for (let i = 0; i < b.readUInt8(1); i++) subs.push(b.readUInt32LE(8 + 4 * i));
  return ['S', b.readUInt8(0), b.readUIntBE(2, 6), ...subs].join('-');
}

const text = (e: LdifEntry, name: string): string | undefined => ldifTexts(e, name)[0];
const texts = ldifTexts;

/** ldapsearch (OpenLDAP CLI) as Administrator over LDAPS with the test CA, extended DNs on. */
function search(
  base: string,
  scope: 'base' | 'sub',
  filter: string,
  attributes: string[],
): LdifEntry[] {
  return parseLdifEntries(
    ldapsearchCli(env, { base, scope, filter, attributes, controls: [EXTENDED_DN_CLI] }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// What the OU holds, read back from the DC before each change (the DC, not a model, says what is valid next).

type Scope = 'global' | 'universal' | 'domainLocal';
const SCOPE_BITS: Record<Scope, number> = { global: 2, domainLocal: 4, universal: 8 };
/** AD's nesting rule within a domain: a member's scope rank is at most its group's (global ⊂ universal ⊂ local). */
const RANK: Record<Scope, number> = { global: 0, universal: 1, domainLocal: 2 };

interface GroupState extends Named {
  sam: string;
  scope: Scope;
  security: boolean;
  rid: number;
  /** Member GUIDs. */
  members: Set<string>;
}
interface UserState extends Named {
  sam: string;
  primaryGroupId: number;
  /** GUIDs of the groups whose member holds the user (from its memberOf: Domain Users' own list can be ranged). */
  memberOf: Set<string>;
}
interface OuState {
  groups: GroupState[];
  users: UserState[];
  domainSid: string;
  domainUsers: GroupState;
}

function groupState(e: LdifEntry): GroupState {
  const named = extended(e.dn);
  const type = Number(text(e, 'grouptype'));
  const scope = (Object.keys(SCOPE_BITS) as Scope[]).find((s) => (type & SCOPE_BITS[s]) !== 0);
  if (scope === undefined || named.sid === undefined) throw new Error(`unexpected group ${e.dn}`);
  return {
    ...named,
    sam: text(e, 'samaccountname') ?? '',
    scope,
    security: (type & 0x80000000) !== 0,
    rid: Number(named.sid.split('-').pop()),
    members: new Set(texts(e, 'member').map((v) => extended(v).guid)),
  };
}

function readOu(): OuState {
  const attrs = ['sAMAccountName', 'groupType', 'member'];
  const groups = search(OU, 'sub', '(objectClass=group)', attrs).map(groupState);
  const users = search(OU, 'sub', '(&(objectClass=user)(objectCategory=person))', [
    'sAMAccountName',
    'primaryGroupID',
    'memberOf',
  ]).map((e): UserState => ({
    ...extended(e.dn),
    sam: text(e, 'samaccountname') ?? '',
    primaryGroupId: Number(text(e, 'primarygroupid')),
    memberOf: new Set(texts(e, 'memberof').map((v) => extended(v).guid)),
  }));
  const domainUsers = search(
    env.baseDn,
    'sub',
    '(&(objectClass=group)(sAMAccountName=Domain Users))',
    attrs,
  ).map(groupState)[0];
  const first = users[0];
  if (domainUsers === undefined || first?.sid === undefined) throw new Error('OU not seeded');
  return { groups, users, domainUsers, domainSid: first.sid.replace(/-\d+$/, '') };
}

// ---------------------------------------------------------------------------------------------------------------
// Changes, as LDIF for ldapmodify / DNs for ldapdelete, run as Administrator.

function modify(ldif: string): void {
  const r = ldapToolAsAdmin(env, 'ldapmodify', [], ldif);
  assert.equal(r.status, 0, `ldapmodify refused:\n${ldif}\n${r.stdout}${r.stderr}`);
}
const addMember = (group: string, member: string): string =>
  `dn: ${group}\nchangetype: modify\nadd: member\nmember: ${member}\n-\n\n`;
const removeMember = (group: string, member: string): string =>
  `dn: ${group}\nchangetype: modify\ndelete: member\nmember: ${member}\n-\n\n`;
const newGroup = (name: string, scope: Scope, security: boolean): string =>
  `dn: CN=${name},${OU}\nchangetype: add\nobjectClass: group\nsAMAccountName: ${name}\n` +
  `groupType: ${SCOPE_BITS[scope] | (security ? 0x80000000 : 0) | 0}\n\n`;
const setPrimary = (user: string, rid: number): string =>
  `dn: ${user}\nchangetype: modify\nreplace: primaryGroupID\nprimaryGroupID: ${rid}\n-\n\n`;

const randomScope = (): Scope => pick(['global', 'universal', 'domainLocal'] as const) ?? 'global';
/** Groups `g` may hold as members by AD's rule, other than itself and its current members. */
const nestable = (s: OuState, g: GroupState): GroupState[] =>
  s.groups.filter(
    (h) => h.guid !== g.guid && RANK[h.scope] <= RANK[g.scope] && !g.members.has(h.guid),
  );
const primaryOf = (s: OuState, u: UserState): GroupState | undefined =>
  [...s.groups, s.domainUsers].find((g) => g.rid === u.primaryGroupId);

interface Change {
  what: string;
  /** A deletion: the tracker's deletion check must be due before the sync. */
  deletes?: boolean;
  run: () => void;
}

let created = 0;

/** Kinds of change: 0 add user, 1 remove member, 2 nest, 3 cycle, 4 rename, 5 delete, 6 create, 7 primary group. */
const KINDS = 8;
const WEIGHTS = [4, 3, 3, 2, 2, 2, 2, 2];
function weightedKind(): number {
  let r = below(WEIGHTS.reduce((a, b) => a + b, 0));
  for (let k = 0; k < KINDS; k++) {
    r -= WEIGHTS[k] ?? 0;
    if (r < 0) return k;
  }
  return 0;
}
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = below(i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** One random change valid for the OU as it is now; undefined when the chosen kind has nothing to act on. */
function randomChange(s: OuState, kind: number): Change | undefined {
  switch (kind) {
    case 0: {
      const g = pick(s.groups);
      // Not a user whose primary group it is: the DC refuses that value (68, as AD's ERROR_MEMBER_IN_GROUP).
      const u =
        g && pick(s.users.filter((x) => !g.members.has(x.guid) && x.primaryGroupId !== g.rid));
      if (g === undefined || u === undefined) return undefined;
      return {
        what: `add user ${u.sam} to ${g.sam}`,
        run: () => {
          modify(addMember(g.dn, u.dn));
        },
      };
    }
    case 1: {
      const links = s.groups.flatMap((g) =>
        [...s.users, ...s.groups].filter((m) => g.members.has(m.guid)).map((m) => ({ g, m })),
      );
      const l = pick(links);
      if (l === undefined) return undefined;
      return {
        what: `remove ${l.m.dn.split(',')[0] ?? ''} from ${l.g.sam}`,
        run: () => {
          modify(removeMember(l.g.dn, l.m.dn));
        },
      };
    }
    case 2: {
      const g = pick(s.groups);
      const h = g && pick(nestable(s, g));
      if (g === undefined || h === undefined) return undefined;
      return {
        what: `nest ${h.sam} in ${g.sam}`,
        run: () => {
          modify(addMember(g.dn, h.dn));
        },
      };
    }
    case 3: {
      // Close a cycle: two groups of one scope, each a member of the other (adding what is missing).
      const pairs = s.groups.flatMap((a) =>
        s.groups
          .filter((b) => b.guid < a.guid && b.scope === a.scope)
          .filter((b) => !(a.members.has(b.guid) && b.members.has(a.guid)))
          .map((b) => ({ a, b })),
      );
      const p = pick(pairs);
      if (p === undefined) return undefined;
      const ldif =
        (p.a.members.has(p.b.guid) ? '' : addMember(p.a.dn, p.b.dn)) +
        (p.b.members.has(p.a.guid) ? '' : addMember(p.b.dn, p.a.dn));
      return {
        what: `cycle ${p.a.sam} <-> ${p.b.sam}`,
        run: () => {
          modify(ldif);
        },
      };
    }
    case 4: {
      const g = pick(s.groups);
      if (g === undefined) return undefined;
      const rdn = `CN=${g.sam}-r${String(++created)}`;
      return {
        what: `rename ${g.dn.split(',')[0] ?? ''} to ${rdn}`,
        run: () => {
          modify(`dn: ${g.dn}\nchangetype: modrdn\nnewrdn: ${rdn}\ndeleteoldrdn: 1\n\n`);
        },
      };
    }
    case 5: {
      // A primary group cannot be deleted (Samba, like AD: 00002071 "still the primaryGroupID for 1 users").
      const g = pick(s.groups.filter((x) => !s.users.some((u) => u.primaryGroupId === x.rid)));
      if (g === undefined || s.groups.length <= 6) return undefined;
      return {
        what: `delete ${g.sam}`,
        deletes: true,
        run: () => {
          const r = ldapToolAsAdmin(env, 'ldapdelete', [g.dn]);
          assert.equal(r.status, 0, `ldapdelete ${g.dn}: ${r.stderr}`);
        },
      };
    }
    case 6: {
      const name = `${P}n${String(++created)}`;
      const scope = randomScope();
      const security = random() < 0.7;
      const u = pick(s.users);
      const parent = pick(s.groups.filter((g) => RANK[scope] <= RANK[g.scope]));
      return {
        what: `create ${security ? 'security' : 'distribution'} ${scope} ${name} with ${u?.sam ?? '-'} in ${parent?.sam ?? '-'}`,
        run: () => {
          modify(
            newGroup(name, scope, security) +
              (u === undefined ? '' : addMember(`CN=${name},${OU}`, u.dn)) +
              (parent === undefined ? '' : addMember(parent.dn, `CN=${name},${OU}`)),
          );
        },
      };
    }
    default: {
      // The primary group: a global or universal security group (as AD allows), or back to Domain Users. As in ADUC,
      // the user becomes a member first; the DC then keeps the old primary group as an explicit membership.
      const u = pick(s.users);
      if (u === undefined) return undefined;
      const targets = [...s.groups, s.domainUsers].filter(
        (g) => g.security && g.scope !== 'domainLocal' && g.rid !== u.primaryGroupId,
      );
      const g = pick(targets);
      if (g === undefined) return undefined;
      return {
        what: `primary group of ${u.sam} → ${g.sam} (${String(g.rid)}, was ${String(u.primaryGroupId)}, ${primaryOf(s, u)?.sam ?? '?'})`,
        run: () => {
          modify((u.memberOf.has(g.guid) ? '' : addMember(g.dn, u.dn)) + setPrimary(u.dn, g.rid));
        },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeding and cleanup.

async function deleteOu(client: Client): Promise<void> {
  let entries;
  try {
    ({ searchEntries: entries } = await client.search(OU, {
      scope: 'sub',
      filter: '(objectClass=*)',
      attributes: ['objectClass'],
    }));
  } catch (err) {
    if (err instanceof NoSuchObjectError) return;
    throw err;
  }
  const isUser = (e: (typeof entries)[number]): boolean =>
    [e.objectClass].flat().some((c) => String(c).toLowerCase() === 'user');
  // Users first: a group that is still someone's primary group cannot be deleted.
  for (const e of entries.filter(isUser)) await client.del(e.dn);
  for (const e of entries.filter((x) => !isUser(x) && x.dn !== OU)) await client.del(e.dn);
  await client.del(OU);
}

/** The starting graph: users in groups, AD-legal nesting, a cycle, a distribution group mid-chain, primary groups. */
function seed(): string[] {
  const notes: string[] = [];
  let ldif = `dn: ${OU}\nchangetype: add\nobjectClass: organizationalUnit\n\n`;
  const users = Array.from({ length: USERS }, (_, i) => ({
    name: `${P}u${String(i)}`,
    dn: `CN=${P}u${String(i)},${OU}`,
  }));
  for (const u of users)
    ldif += `dn: ${u.dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: ${u.name}\n\n`;
  // g0–g5: both kinds of every scope (g0 global, g1 universal, g2 domain-local security; g3–g5 the same as
  // distribution groups); g6 universal security (for a cycle with g1); the rest random.
  const fixed: [Scope, boolean][] = [
    ['global', true],
    ['universal', true],
    ['domainLocal', true],
    ['global', false],
    ['universal', false],
    ['domainLocal', false],
    ['universal', true],
  ];
  const groups = Array.from({ length: GROUPS }, (_, i) => {
    const [scope, security] = fixed[i] ?? [randomScope(), random() < 0.7];
    return { name: `${P}g${String(i)}`, dn: `CN=${P}g${String(i)},${OU}`, scope, security };
  });
  for (const g of groups) ldif += newGroup(g.name, g.scope, g.security);
  modify(ldif);
  ldif = '';
  const links = new Set<string>();
  const link = (g: (typeof groups)[number] | undefined, memberDn: string | undefined): void => {
    if (g === undefined || memberDn === undefined) return;
    if (links.has(`${g.dn}|${memberDn}`) || g.dn === memberDn) return;
    links.add(`${g.dn}|${memberDn}`);
    ldif += addMember(g.dn, memberDn);
  };
  const [g0, g1, g2, g3, , , g6] = groups;
  const [u0, , , , u4] = users;
  // A chain of security groups: u0 ∈ g0 ∈ g1 ∈ g2 (global in universal in domain-local).
  link(g0, u0?.dn);
  link(g1, g0?.dn);
  link(g2, g1?.dn);
  notes.push(`${P}u0 ∈ ${P}g0 ∈ ${P}g1 ∈ ${P}g2 (security chain)`);
  // A distribution group mid-chain: u4 ∈ g3 (distribution global) ∈ g1 (security universal).
  link(g3, u4?.dn);
  link(g1, g3?.dn);
  notes.push(`${P}u4 ∈ ${P}g3 (distribution) ∈ ${P}g1 (security)`);
  // A cycle: g1 ∈ g6 ∈ g1 (universal security).
  link(g6, g1?.dn);
  link(g1, g6?.dn);
  notes.push(`cycle ${P}g1 <-> ${P}g6`);
  // Every other user in one to three random groups (u4 only in g3 to start with: with g1 reached through g3
  // alone, a graph that expanded distribution groups would differ from the DC at once).
  for (const u of users) {
    if (u === u4) continue;
    for (let k = 1 + below(3); k > 0; k--) link(pick(groups), u.dn);
  }
  for (let k = 0; k < 12; k++) {
    const g = pick(groups);
    const h = pick(groups);
    if (g !== undefined && h !== undefined && RANK[h.scope] <= RANK[g.scope]) link(g, h.dn);
  }
  modify(ldif);
  // Non-default primary groups for three users.
  for (const u of users.slice(1, 4)) {
    const s = readOu();
    const user = s.users.find((x) => x.sam === u.name);
    const g = pick(s.groups.filter((x) => x.security && x.scope !== 'domainLocal'));
    if (user === undefined || g === undefined) continue;
    modify(
      (user.memberOf.has(g.guid) ? '' : addMember(g.dn, user.dn)) + setPrimary(user.dn, g.rid),
    );
    notes.push(`primary group of ${u.name}: ${g.sam}`);
  }
  return notes;
}

// ---------------------------------------------------------------------------------------------------------------
// The comparison.

const sortedSet = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/**
 * For every user of the OU: graph.tokenGroups = the DC's tokenGroups, graph.directGroups = the DC's memberOf.
 * Returns how many SIDs were compared, and how many of them were SIDs of this OU's groups that the DC gave through
 * nesting alone (neither a direct group nor the primary group): what shows the comparison exercised nesting.
 */
function compare(graph: GroupGraph, where: string): { sids: number; nested: number } {
  const s = readOu();
  assert.equal(s.users.length, USERS, where);
  const ouSids = new Set(s.groups.map((g) => g.sid));
  let sids = 0;
  let nested = 0;
  for (const u of s.users) {
    const [entry] = search(u.dn, 'base', '(objectClass=*)', ['tokenGroups', 'memberOf']);
    assert.ok(entry !== undefined, `${where}: ${u.dn} not read`);
    const dcTokenGroups = sortedSet((entry.attrs.get('tokengroups') ?? []).map(sidText));
    const dcMemberOf = sortedSet(
      texts(entry, 'memberof').map((v) => {
        const m = extended(v);
        return `${m.guid} ${m.dn}`;
      }),
    );
    assert.ok(
      dcTokenGroups.length >= 2,
      `${where}: ${u.sam} has a tokenGroups (Domain Users and BUILTIN\\Users at least)`,
    );
    const primarySid = `${s.domainSid}-${String(u.primaryGroupId)}`;
    assert.deepEqual(
      sortedSet(graph.tokenGroups(u.guid, primarySid)),
      dcTokenGroups,
      `${where}: tokenGroups of ${u.sam} (primary ${String(u.primaryGroupId)})`,
    );
    assert.deepEqual(
      sortedSet(graph.directGroups(u.guid).map((g) => `${g.guid} ${g.dn}`)),
      dcMemberOf,
      `${where}: memberOf of ${u.sam}`,
    );
    sids += dcTokenGroups.length;
    const direct = new Set(texts(entry, 'memberof').map((v) => extended(v).sid));
    nested += dcTokenGroups.filter(
      (x) => ouSids.has(x) && !direct.has(x) && x !== primarySid,
    ).length;
  }
  return { sids, nested };
}

// ---------------------------------------------------------------------------------------------------------------

const clock = new FixedClock();
const graph = new GroupGraph();
let tracker: ChangeTracker | undefined;
let admin: Client | undefined;

before(async () => {
  admin = await adminClient(env);
  await deleteOu(admin);
});

after(async () => {
  await tracker?.close();
  if (admin !== undefined) {
    await deleteOu(admin);
    await admin.unbind();
  }
});

/** One sync, then the tracker must be tracking and fresh as of `changedAt` (injected clock) or later. */
async function sync(changedAt: number, where: string): Promise<void> {
  assert.ok(tracker !== undefined);
  await tracker.syncNow();
  const st = tracker.state();
  assert.equal(st.mode, 'tracking', `${where}: tracker ${st.mode} ${st.lastError ?? ''}`);
  assert.ok(st.freshAsOf !== undefined && st.freshAsOf >= changedAt, `${where}: tracker not fresh`);
}

test("random group graphs in Samba: the graph gives the DC's tokenGroups and memberOf after every change", async (t) => {
  t.diagnostic(`seed ${String(SEED)} (replay: FEDGATE_SEED=${String(SEED)})`);
  for (const note of seed()) t.diagnostic(`seeded: ${note}`);
  tracker = new ChangeTracker(
    sambaLdapConfig(env, {
      cache: { maxStalenessSeconds: 5, maxUsers: 1000, deletionCheckSeconds: DELETION_CHECK_S },
    }),
    graph,
    // Never started: each sync is driven by syncNow(), so polls happen exactly when the test asks.
    { pollIntervalMs: 1000, userAttributes: [] },
    { logger: pino({ level: 'silent' }), clock, baseDir: process.cwd() },
  );
  await sync(clock.now().getTime(), 'full read');
  const seeded = compare(graph, `seed ${String(SEED)}, after the full read`);
  // The seeded chain u0 ∈ g0 ∈ g1 ∈ g2 alone gives two SIDs through nesting.
  assert.ok(seeded.nested >= 2, `nesting exercised: ${JSON.stringify(seeded)}`);
  const total = { ...seeded };

  const order = shuffle(Array.from({ length: KINDS }, (_, i) => i));
  const kinds = new Map<string, number>();
  for (let step = 1; step <= CHANGES; step++) {
    const s = readOu();
    let change: Change | undefined;
    // The first eight changes are one of each kind, in random order; then kinds by weight.
    const first = step <= KINDS ? order[step - 1] : undefined;
    for (let tries = 0; change === undefined && tries < 50; tries++)
      change = randomChange(s, tries === 0 && first !== undefined ? first : weightedKind());
    assert.ok(change !== undefined, 'no valid change found');
    clock.advance(1000);
    const changedAt = clock.now().getTime();
    const where = `seed ${String(SEED)}, change ${String(step)}: ${change.what}`;
    t.diagnostic(where);
    change.run();
    const kind = change.what.split(' ')[0] ?? '';
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    // The deletion check runs when deletionCheckSeconds have passed on the injected clock since the last one.
    if (change.deletes === true) clock.advance(DELETION_CHECK_S * 1000 + 1);
    await sync(changedAt, where);
    const c = compare(graph, where);
    total.sids += c.sids;
    total.nested += c.nested;
  }
  t.diagnostic(`changes by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);
  t.diagnostic(
    `SIDs compared: ${String(total.sids)}, of which this OU's groups through nesting alone: ${String(total.nested)}`,
  );
});
