// The in-memory group graph (issue 22): memberOf and tokenGroups as the DC computes them ([MS-ADTS] §3.1.1.4.5.19),
// checked by hand-made cases and against a naive fixed-point reference over every group (fast-check, fixed seed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GroupGraph } from '../../../server/directory/cache/group-graph.ts';
import type { GroupRecord } from '../../../server/directory/cache/types.ts';

const GLOBAL_SECURITY = -2147483646; // 0x80000002
const UNIVERSAL_SECURITY = -2147483640; // 0x80000008
const DOMAIN_LOCAL_SECURITY = -2147483644; // 0x80000004
const GLOBAL_DISTRIBUTION = 2;
const UNIVERSAL_DISTRIBUTION = 8;

const guid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const sid = (n: number): string => `S-1-5-21-1-2-3-${1000 + n}`;

function group(n: number, members: number[], groupType = GLOBAL_SECURITY): GroupRecord {
  return {
    guid: guid(n),
    dn: `CN=g${n},OU=T,DC=corp,DC=example,DC=test`,
    sid: sid(n),
    sAMAccountName: `g${n}`,
    groupType,
    members: members.map(guid),
  };
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const USER = 900_000;

describe('GroupGraph: hand-made cases', () => {
  it('direct groups of every type in memberOf; security groups only, through security groups only, in tokenGroups', () => {
    const g = new GroupGraph();
    g.replaceAll([
      group(1, [USER]), // security, direct
      group(2, [USER], GLOBAL_DISTRIBUTION), // distribution, direct
      group(3, [2]), // security containing the distribution group: the chain is broken there
      group(4, [1], UNIVERSAL_SECURITY), // nesting through a security group
      group(5, [4], DOMAIN_LOCAL_SECURITY),
      group(6, [5], UNIVERSAL_DISTRIBUTION), // reached, but distribution: not listed
      group(7, [6]), // only through the distribution group 6: not reached
    ]);
    assert.deepEqual(sorted(g.directGroups(guid(USER)).map((r) => r.sAMAccountName)), ['g1', 'g2']);
    assert.deepEqual(
      sorted(g.tokenGroups(guid(USER), undefined)),
      sorted([sid(1), sid(4), sid(5)]),
    );
  });

  it('the primary group counts with its own nesting; an unknown or distribution primary group adds nothing', () => {
    const g = new GroupGraph();
    g.replaceAll([
      group(10, []), // Domain Users-like: members by primaryGroupID only
      group(11, [10], DOMAIN_LOCAL_SECURITY), // BUILTIN\Users-like
      group(12, [], GLOBAL_DISTRIBUTION),
      group(13, [12]),
    ]);
    assert.deepEqual(sorted(g.tokenGroups(guid(USER), sid(10))), sorted([sid(10), sid(11)]));
    assert.deepEqual(g.tokenGroups(guid(USER), sid(12)), []);
    assert.deepEqual(g.tokenGroups(guid(USER), 'S-1-5-21-9-9-9-513'), []);
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), []);
    assert.deepEqual(g.directGroups(guid(USER)), []);
  });

  it('cycles and self-membership terminate and list each SID once; a group member never gets its own SID', () => {
    const g = new GroupGraph();
    g.replaceAll([group(1, [USER, 3]), group(2, [1, 2]), group(3, [2])]);
    const tg = g.tokenGroups(guid(USER), sid(1));
    assert.deepEqual(sorted(tg), sorted([sid(1), sid(2), sid(3)]));
    assert.equal(new Set(tg).size, tg.length);
    assert.deepEqual(sorted(g.tokenGroups(guid(2), undefined)), sorted([sid(1), sid(3)]));
  });

  it('upsert replaces members, SID and type; remove and retainOnly keep memberOf exact', () => {
    const g = new GroupGraph();
    g.replaceAll([group(1, [USER]), group(2, [1]), group(3, [2])]);
    assert.equal(g.tokenGroups(guid(USER), undefined).length, 3);
    g.upsert(group(2, [], GLOBAL_SECURITY)); // 1 taken out of 2
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), [sid(1)]);
    assert.deepEqual(g.directGroups(guid(1)), []);
    g.upsert(group(2, [1, USER], GLOBAL_DISTRIBUTION));
    assert.deepEqual(sorted(g.directGroups(guid(USER)).map((r) => r.sAMAccountName)), ['g1', 'g2']);
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), [sid(1)]);
    g.upsert({ ...group(2, [1, USER]), sid: 'S-1-5-21-1-2-3-77', dn: 'CN=renamed,OU=T,DC=x' });
    assert.equal(g.bySid(sid(2)), undefined);
    assert.equal(g.bySid('S-1-5-21-1-2-3-77')?.dn, 'CN=renamed,OU=T,DC=x');
    assert.deepEqual(
      sorted(g.tokenGroups(guid(USER), undefined)),
      sorted([sid(1), 'S-1-5-21-1-2-3-77', sid(3)]),
    );
    g.remove(guid(2));
    assert.equal(g.byGuid(guid(2)), undefined);
    assert.deepEqual(sorted(g.directGroups(guid(USER)).map((r) => r.sAMAccountName)), ['g1']);
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), [sid(1)]);
    assert.deepEqual(g.stats(), { groups: 2, memberLinks: 2 });
    assert.equal(g.retainOnly(new Set([guid(3)])), 1);
    assert.deepEqual(g.directGroups(guid(USER)), []);
    assert.deepEqual(g.stats(), { groups: 1, memberLinks: 1 });
    g.remove(guid(42)); // unknown: nothing
    assert.deepEqual(g.stats(), { groups: 1, memberLinks: 1 });
  });

  it('GUIDs are matched case-insensitively; duplicate members count once; records are frozen copies', () => {
    const g = new GroupGraph();
    const input = group(1, [USER, USER]);
    input.members.push(guid(USER).toUpperCase());
    g.upsert({ ...input, guid: input.guid.toUpperCase() });
    input.members.length = 0; // the caller's array is not the graph's
    assert.deepEqual(g.byGuid(guid(1))?.members, [guid(USER)]);
    assert.deepEqual(g.tokenGroups(guid(USER).toUpperCase(), undefined), [sid(1)]);
    assert.deepEqual(g.stats(), { groups: 1, memberLinks: 1 });
    const record = g.byGuid(guid(1));
    assert.ok(record !== undefined && Object.isFrozen(record) && Object.isFrozen(record.members));
  });

  it('an unsigned groupType (0x80000002 read as a positive number) is still a security group', () => {
    const g = new GroupGraph();
    g.upsert(group(1, [USER], 0x80000002));
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), [sid(1)]);
    assert.equal(g.byGuid(guid(1))?.groupType, GLOBAL_SECURITY);
  });

  it('a group without a SID is expanded but not listed', () => {
    const g = new GroupGraph();
    g.replaceAll([{ ...group(1, [USER]), sid: undefined }, group(2, [1])]);
    assert.deepEqual(g.tokenGroups(guid(USER), undefined), [sid(2)]);
  });

  it('a chain of 100,000 nested groups does not overflow the stack', () => {
    const n = 100_000;
    const g = new GroupGraph();
    g.replaceAll(
      (function* chain() {
        yield group(0, [USER]);
        for (let i = 1; i < n; i++) yield group(i, [i - 1]);
      })(),
    );
    const tg = g.tokenGroups(guid(USER), undefined);
    assert.equal(tg.length, n);
    assert.equal(new Set(tg).size, n);
    // Close the ring: still each once.
    g.upsert(group(0, [USER, n - 1]));
    assert.equal(g.tokenGroups(guid(n - 1), undefined).length, n - 1);
    assert.deepEqual(g.stats(), { groups: n, memberLinks: n + 1 });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property test: the graph against a naive reference that recomputes everything from the list of records.

type Op =
  | { kind: 'upsert'; n: number; members: number[]; type: number; withSid: boolean }
  | { kind: 'remove'; n: number }
  | { kind: 'retainOnly'; keep: number[] }
  | {
      kind: 'replaceAll';
      groups: { n: number; members: number[]; type: number; withSid: boolean }[];
    };

const GROUPS = 12; // group numbers 0..11
const USERS = [100, 101, 102, 103, 104];
const EVERY_MEMBER = [...Array.from({ length: GROUPS }, (_, i) => i), ...USERS, 555]; // 555: never in anything
const TYPES = [
  GLOBAL_SECURITY,
  UNIVERSAL_SECURITY,
  DOMAIN_LOCAL_SECURITY,
  GLOBAL_DISTRIBUTION,
  UNIVERSAL_DISTRIBUTION,
];

const memberArb = fc.constantFrom(...EVERY_MEMBER);
const groupArb = fc.record({
  n: fc.integer({ min: 0, max: GROUPS - 1 }),
  members: fc.array(memberArb, { maxLength: 6 }),
  type: fc.constantFrom(...TYPES),
  withSid: fc.boolean(),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: groupArb.map((g) => ({ kind: 'upsert' as const, ...g })) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: GROUPS }).map((n) => ({ kind: 'remove' as const, n })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: GROUPS - 1 }), { maxLength: GROUPS })
      .map((keep) => ({ kind: 'retainOnly' as const, keep })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(groupArb, { maxLength: GROUPS })
      .map((groups) => ({ kind: 'replaceAll' as const, groups })),
  },
);

function makeRecord(g: {
  n: number;
  members: number[];
  type: number;
  withSid: boolean;
}): GroupRecord {
  return { ...group(g.n, g.members, g.type), sid: g.withSid ? sid(g.n) : undefined };
}

/** memberOf by scanning every record. */
function refDirect(model: Map<string, GroupRecord>, member: string): string[] {
  return [...model.values()].filter((r) => r.members.includes(member)).map((r) => r.guid);
}

/**
 * tokenGroups by fixed-point iteration: T starts as the member's security direct groups and security primary group;
 * then, until nothing changes, every security group holding a group of T joins T. The member's own SID is dropped.
 */
function refTokenGroups(
  model: Map<string, GroupRecord>,
  member: string,
  primarySid: string | undefined,
): string[] {
  const security = [...model.values()].filter((r) => (r.groupType & 0x80000000) !== 0);
  const t = new Set<string>();
  for (const r of security) {
    if (r.members.includes(member) || (primarySid !== undefined && r.sid === primarySid))
      t.add(r.guid);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const r of security) {
      if (!t.has(r.guid) && r.members.some((m) => t.has(m))) {
        t.add(r.guid);
        changed = true;
      }
    }
  }
  const ownSid = model.get(member)?.sid;
  const sids = new Set<string>();
  for (const g of t) {
    const s = model.get(g)?.sid;
    if (s !== undefined && s !== ownSid) sids.add(s);
  }
  return [...sids];
}

function applyToModel(model: Map<string, GroupRecord>, op: Op): void {
  switch (op.kind) {
    case 'upsert':
      model.set(guid(op.n), { ...makeRecord(op), members: [...new Set(op.members.map(guid))] });
      return;
    case 'remove':
      model.delete(guid(op.n));
      return;
    case 'retainOnly': {
      const keep = new Set(op.keep.map(guid));
      for (const k of [...model.keys()]) if (!keep.has(k)) model.delete(k);
      return;
    }
    case 'replaceAll':
      model.clear();
      for (const g of op.groups)
        model.set(guid(g.n), { ...makeRecord(g), members: [...new Set(g.members.map(guid))] });
  }
}

function applyToGraph(graph: GroupGraph, op: Op): number | undefined {
  switch (op.kind) {
    case 'upsert':
      graph.upsert(makeRecord(op));
      return undefined;
    case 'remove':
      graph.remove(guid(op.n));
      return undefined;
    case 'retainOnly':
      return graph.retainOnly(new Set(op.keep.map(guid)));
    case 'replaceAll':
      graph.replaceAll(op.groups.map(makeRecord));
      return undefined;
  }
}

function compare(graph: GroupGraph, model: Map<string, GroupRecord>): void {
  const primaries = [undefined, ...Array.from({ length: GROUPS }, (_, i) => sid(i))];
  for (const m of EVERY_MEMBER) {
    const member = guid(m);
    assert.deepEqual(
      sorted(graph.directGroups(member).map((r) => r.guid)),
      sorted(refDirect(model, member)),
      `directGroups(${m})`,
    );
    for (const p of primaries) {
      const got = graph.tokenGroups(member, p);
      assert.equal(new Set(got).size, got.length, `tokenGroups(${m}, ${p}) lists a SID twice`);
      assert.deepEqual(
        sorted(got),
        sorted(refTokenGroups(model, member, p)),
        `tokenGroups(${m}, ${p})`,
      );
    }
  }
  for (let i = 0; i <= GROUPS; i++) {
    assert.deepEqual(graph.byGuid(guid(i)), model.get(guid(i)), `byGuid(${i})`);
    const bySid = [...model.values()].find((r) => r.sid === sid(i));
    assert.deepEqual(graph.bySid(sid(i)), bySid, `bySid(${i})`);
  }
  assert.deepEqual(graph.stats(), {
    groups: model.size,
    memberLinks: [...model.values()].reduce((n, r) => n + r.members.length, 0),
  });
}

describe('GroupGraph: against a naive reference (fast-check, fixed seed)', () => {
  it('every sequence of upserts, removals, retainOnly and replaceAll gives the reference answers', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const graph = new GroupGraph();
        const model = new Map<string, GroupRecord>();
        for (const op of ops) {
          const before = model.size;
          applyToModel(model, op);
          const dropped = applyToGraph(graph, op);
          if (op.kind === 'retainOnly') assert.equal(dropped, before - model.size);
          compare(graph, model);
        }
      }),
      { seed: 220601, numRuns: 300 },
    );
  });
});
