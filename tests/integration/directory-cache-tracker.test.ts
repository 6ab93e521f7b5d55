/**
 * The directory cache's change tracker (issue 22) against the Samba AD DC, in OU=CacheTrack (created and changed here
 * as Administrator with the OpenLDAP CLIs; the tracker binds as svc-fedgate). What the DC holds is read independently
 * with ldapsearch and AD's extended DN control (the DC's own <GUID=…>;<SID=…> strings), never with fedgate's code.
 * Other test files change the domain at the same time: only this OU's objects are compared.
 *
 * Wrong passwords used (lockout budget, tests/helpers/samba.ts): none on shared accounts; the wrong-password case binds
 * as ct-svc, an account this file creates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { Client, PresenceFilter } from 'ldapts';
import { pino } from 'pino';
import type { LdapDirectoryConfig } from '../../server/config/schema.ts';
import { GroupGraph } from '../../server/directory/cache/group-graph.ts';
import {
  ExtendedDnControl,
  rangedPart,
  readRangedValues,
} from '../../server/directory/cache/ldap-controls.ts';
import { ChangeTracker } from '../../server/directory/cache/tracker.ts';
import type {
  ChangedUser,
  TrackerOptions,
  TrackerState,
} from '../../server/directory/cache/types.ts';
import type { DirectoryOperation } from '../../server/directory/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { LogCapture } from '../helpers/app.ts';
import { waitUntil } from '../helpers/net.ts';
import {
  EXTENDED_DN_CLI,
  ldapsearchCli,
  ldapToolAsAdmin,
  ldifTexts,
  parseLdifEntries,
  sambaEnv,
  sambaLdapConfig,
  sambaTlsFiles,
  splitExtendedDn,
  type LdifEntry,
} from '../helpers/samba.ts';

const env = sambaEnv();
const ROOT = env.baseDn;
const OU = `OU=CacheTrack,${ROOT}`;
const dnOf = (cn: string): string => `CN=${cn},${OU}`;
const SVC_PASSWORD = `Ct1-${Math.random().toString(36).slice(2)}Aa9`;
/** The extended DN control for the ldapsearch CLI: critical, value SEQUENCE { INTEGER 1 } (base64 MAMCAQE=). */

// ---------------------------------------------------------------------------------------------------------------
// Independent reads and writes (OpenLDAP CLIs as Administrator)

function asAdmin(tool: 'ldapmodify' | 'ldapdelete', args: string[], input?: string): void {
  const r = ldapToolAsAdmin(env, tool, args, input);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr}`);
}

const modify = (ldif: string): void => {
  asAdmin('ldapmodify', [], ldif);
};

/** The test's own reading of the LDIF: values as text. */
const vals = (e: LdifEntry, name: string): string[] => ldifTexts(e, name);
const extended = splitExtendedDn;

/** ldapsearch over this OU with the extended DN control, as Administrator. */
function cliSearch(filter: string, attributes: string[]): LdifEntry[] {
  return parseLdifEntries(
    ldapsearchCli(env, { base: OU, scope: 'sub', filter, attributes, controls: [EXTENDED_DN_CLI] }),
  );
}

/** What the DC holds for this OU's groups, by the DC's own GUID strings. */
function groupsByCli(): Map<
  string,
  { dn: string; sid: string | undefined; sam: string; groupType: number; members: string[] }
> {
  const out = new Map<
    string,
    { dn: string; sid: string | undefined; sam: string; groupType: number; members: string[] }
  >();
  for (const e of cliSearch('(objectClass=group)', ['member', 'sAMAccountName', 'groupType'])) {
    const id = extended(e.dn);
    out.set(id.guid, {
      dn: id.dn,
      sid: id.sid,
      sam: vals(e, 'samaccountname')[0] ?? '',
      groupType: Number(vals(e, 'grouptype')[0]),
      members: vals(e, 'member')
        .map((v) => extended(v).guid)
        .sort(),
    });
  }
  return out;
}

/** CN → objectGUID string for every object of this OU, from the DC's extended DN. */
function guidsByCli(): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of cliSearch('(|(objectClass=group)(objectClass=user))', ['1.1'])) {
    const id = extended(e.dn);
    out.set(/^CN=([^,]+),/i.exec(id.dn)?.[1] ?? id.dn, id.guid);
  }
  return out;
}

/** The highest uSNChanged in this OU (the OU included), read with the CLI. */
function ouMaxUsn(): number {
  const entries = cliSearch('(objectClass=*)', ['uSNChanged']);
  return Math.max(...entries.map((e) => Number(vals(e, 'usnchanged')[0] ?? 0)));
}

function unicodePwd(password: string): string {
  return Buffer.from(`"${password}"`, 'utf16le').toString('base64');
}

function seed(): void {
  try {
    asAdmin('ldapdelete', ['-r', OU]);
  } catch {
    // Not there yet.
  }
  const user = (cn: string): string =>
    `dn: ${dnOf(cn)}\nchangetype: add\nobjectClass: user\nsAMAccountName: ${cn}\ndescription: seeded\n`;
  const group = (cn: string, members: string[], groupType = -2147483646): string =>
    [
      `dn: ${dnOf(cn)}`,
      'changetype: add',
      'objectClass: group',
      `sAMAccountName: ${cn}`,
      `groupType: ${groupType}`,
      ...members.map((m) => `member: ${dnOf(m)}`),
      '',
    ].join('\n');
  modify(
    [
      `dn: ${OU}\nchangetype: add\nobjectClass: organizationalUnit\n`,
      user('ct-u1'),
      user('ct-u2'),
      user('ct-u3'),
      `dn: ${dnOf('ct-svc')}\nchangetype: add\nobjectClass: user\nsAMAccountName: ct-svc\nunicodePwd:: ${unicodePwd(SVC_PASSWORD)}\nuserAccountControl: 512\n`,
      group('ct-gA', ['ct-u1', 'ct-u2']),
      group('ct-gB', ['ct-gA']),
      group('ct-gC', ['ct-u3']),
      group('ct-gParent', ['ct-gB']),
      group('ct-gDel', ['ct-u1']),
      // A distribution group (groupType 2: global, not security).
      group('ct-gDist', ['ct-u2', 'ct-gA'], 2),
    ].join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The tracker under test

function config(overrides: Partial<LdapDirectoryConfig> = {}): LdapDirectoryConfig {
  return sambaLdapConfig(env, {
    // Users of this OU only (groups are always read from the whole domain naming context).
    baseDn: OU,
    cache: { maxStalenessSeconds: 5, maxUsers: 1000 },
    ...overrides,
  });
}

interface Harness {
  tracker: ChangeTracker;
  graph: GroupGraph;
  clock: FixedClock;
  ops: DirectoryOperation[];
  users: ChangedUser[][];
  resyncs: { dc: string; reason: string; groups: number; ms: number }[];
  states: TrackerState[];
  logs: LogCapture;
}

const open: ChangeTracker[] = [];

function harness(
  cfg: LdapDirectoryConfig = config(),
  options: Partial<TrackerOptions> = {},
  onOp?: (op: DirectoryOperation) => void,
): Harness {
  const graph = new GroupGraph();
  const clock = new FixedClock();
  const ops: DirectoryOperation[] = [];
  const users: ChangedUser[][] = [];
  const resyncs: Harness['resyncs'] = [];
  const states: TrackerState[] = [];
  const logs = new LogCapture();
  const tracker = new ChangeTracker(
    cfg,
    graph,
    { pollIntervalMs: 1000, userAttributes: ['description', 'objectSid'], ...options },
    {
      logger: pino({ level: 'info' }, logs),
      clock,
      baseDir: '/',
      onOperation: (op) => {
        ops.push(op);
        onOp?.(op);
      },
      events: {
        onUsersChanged: (u) => users.push(u),
        onResync: (info) => resyncs.push(info),
        onStateChange: (s) => states.push(s),
      },
    },
  );
  open.push(tracker);
  return { tracker, graph, clock, ops, users, resyncs, states, logs };
}

const count = (ops: DirectoryOperation[], op: DirectoryOperation['op'], from = 0): number =>
  ops.slice(from).filter((o) => o.op === op).length;

function assertGraphMatchesDc(graph: GroupGraph, what: string): void {
  const dc = groupsByCli();
  assert.ok(dc.size > 0, 'the OU has groups');
  for (const [guid, want] of dc) {
    const got = graph.byGuid(guid);
    assert.ok(got !== undefined, `${what}: ${want.dn} (${guid}) is in the graph`);
    assert.deepEqual(
      {
        dn: got.dn,
        sid: got.sid,
        sam: got.sAMAccountName,
        groupType: got.groupType,
        members: [...got.members].sort(),
      },
      want,
      `${what}: ${want.dn}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A restartable TLS forwarder to Samba's LDAPS port, presenting the DC's own certificate (a second "DC" URL).

class Forwarder {
  readonly #sockets = new Set<Socket>();
  #server: tls.Server | undefined;
  port = 0;
  get url(): string {
    return `ldaps://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const { cert, key } = sambaTlsFiles(env);
    const sambaCa = readFileSync(env.caFile);
    const upPort = Number(new URL(env.urls[0] ?? '').port || 636);
    const server = tls.createServer(
      { cert: readFileSync(cert), key: readFileSync(key) },
      (client) => {
        const upstream = tls.connect({ host: '127.0.0.1', port: upPort, ca: sambaCa });
        this.#sockets.add(client);
        this.#sockets.add(upstream);
        client.pipe(upstream).pipe(client);
        const end = (): void => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', end);
        upstream.on('error', end);
        client.on('close', end);
        upstream.on('close', end);
      },
    );
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** The DC dies: the port stops answering and every open connection is cut. */
  async kill(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server !== undefined)
      await new Promise<void>((r) => {
        server.close(() => {
          r();
        });
      });
  }
}

const forwarders: Forwarder[] = [];

before(() => {
  seed();
});

after(async () => {
  await Promise.all(open.map((t) => t.close()));
  await Promise.all(forwarders.map((f) => f.kill()));
  try {
    asAdmin('ldapdelete', ['-r', OU]);
  } catch {
    // Leave it for the next run's seed to remove.
  }
});

describe('change tracker against Samba (OU=CacheTrack)', () => {
  it('full read: every group with its members by objectGUID, as ldapsearch shows them; a quiet poll is 3 searches; read-only', async () => {
    const usnBefore = ouMaxUsn();
    const h = harness();
    const t0 = performance.now();
    await h.tracker.syncNow();
    const fullMs = performance.now() - t0;
    const st = h.tracker.state();
    assert.equal(st.mode, 'tracking', st.lastError);
    assert.equal(st.freshAsOf, h.clock.now().getTime());
    assert.equal(st.dc, env.urls[0]);
    assert.match(st.usn ?? '', /^\d+$/);
    assert.deepEqual(
      h.resyncs.map((r) => [r.dc, r.reason]),
      [[env.urls[0], 'start']],
    );
    assertGraphMatchesDc(h.graph, 'full read');
    // The distribution group is in the graph too (memberOf lists every group type).
    const guids = guidsByCli();
    const dist = h.graph.byGuid(guids.get('ct-gDist') ?? '');
    assert.equal(dist?.groupType, 2);
    const fullOps = {
      connect: count(h.ops, 'tracking_connect'),
      bind: count(h.ops, 'tracking_bind'),
      search: count(h.ops, 'tracking_search'),
    };
    // Nothing the tracker does is a sign-in operation.
    assert.deepEqual(
      h.ops.filter((o) => !o.op.startsWith('tracking_')),
      [],
    );

    // A quiet poll (no change of ours; the deletion check not due): rootDSE, changed groups, changed users.
    const mark = h.ops.length;
    h.clock.advance(1000);
    await h.tracker.syncNow();
    const quiet = {
      connect: count(h.ops, 'tracking_connect', mark),
      bind: count(h.ops, 'tracking_bind', mark),
      search: count(h.ops, 'tracking_search', mark),
    };
    // With the deletion check due: one more search per page of group GUIDs.
    const mark2 = h.ops.length;
    h.clock.advance(5000);
    await h.tracker.syncNow();
    const withCheck = count(h.ops, 'tracking_search', mark2);
    console.log(
      `tracker ops: full read ${JSON.stringify(fullOps)} in ${fullMs.toFixed(0)} ms (${h.graph.stats().groups} groups in the domain); ` +
        `quiet poll ${JSON.stringify(quiet)}; poll with deletion check: ${withCheck} searches`,
    );
    assert.deepEqual(quiet, { connect: 0, bind: 0, search: 3 }, 'a quiet poll');
    assert.ok(withCheck >= 4, `deletion check adds at least one search (${withCheck})`);
    assert.equal(h.tracker.state().freshAsOf, h.clock.now().getTime());
    assert.equal(h.tracker.state().resyncs, 1);
    // Tracking wrote nothing: no object of the OU moved its uSNChanged.
    assert.equal(ouMaxUsn(), usnBefore, 'uSNChanged of OU=CacheTrack unchanged by tracking');
  });

  it('changes are seen by the next poll: member added and removed, nesting, rename, new group, user attribute; deletion at the check', async () => {
    const h = harness();
    await h.tracker.syncNow();
    const g = guidsByCli();
    const id = (cn: string): string => {
      const v = g.get(cn);
      assert.ok(v !== undefined, cn);
      return v;
    };
    const beforeB = h.graph.byGuid(id('ct-gB'));
    assert.deepEqual(beforeB?.members, [id('ct-gA')]);

    modify(
      [
        `dn: ${dnOf('ct-gA')}\nchangetype: modify\nadd: member\nmember: ${dnOf('ct-u3')}\n-\ndelete: member\nmember: ${dnOf('ct-u2')}\n-\n`,
        `dn: ${dnOf('ct-gB')}\nchangetype: modify\nadd: member\nmember: ${dnOf('ct-gC')}\n-\n`,
        `dn: ${dnOf('ct-gB')}\nchangetype: modrdn\nnewrdn: CN=ct-gB-renamed\ndeleteoldrdn: 1\n`,
        `dn: ${dnOf('ct-gNew')}\nchangetype: add\nobjectClass: group\nsAMAccountName: ct-gNew\nmember: ${dnOf('ct-u1')}\n`,
        `dn: ${dnOf('ct-u1')}\nchangetype: modify\nreplace: description\ndescription: changed by the test\n-\n`,
      ].join('\n'),
    );
    h.users.length = 0;
    h.clock.advance(1000);
    await h.tracker.syncNow();
    assert.equal(h.tracker.state().mode, 'tracking');
    assertGraphMatchesDc(h.graph, 'after the changes');
    const g2 = guidsByCli();
    assert.equal(g2.get('ct-gB-renamed'), id('ct-gB'), 'a rename keeps the objectGUID');
    const renamed = h.graph.byGuid(id('ct-gB'));
    assert.equal(renamed?.dn, dnOf('ct-gB-renamed'));
    assert.deepEqual([...renamed.members].sort(), [id('ct-gA'), id('ct-gC')].sort());
    // The parent still holds the renamed group: links are by GUID, and the parent itself did not change.
    assert.deepEqual(h.graph.byGuid(id('ct-gParent'))?.members, [id('ct-gB')]);
    assert.deepEqual(h.graph.byGuid(g2.get('ct-gNew') ?? '')?.members, [id('ct-u1')]);
    assert.deepEqual(
      h.graph.byGuid(id('ct-gA'))?.members.slice().sort(),
      [id('ct-u1'), id('ct-u3')].sort(),
    );

    // Users: ct-u1's attribute change is reported with its new values; membership changes (ct-u2, ct-u3) are not.
    const changed = h.users.flat().filter((u) => u.dn.endsWith(OU));
    assert.deepEqual(
      changed.map((u) => [u.guid, u.dn, u.values.description]),
      [[id('ct-u1'), dnOf('ct-u1'), ['changed by the test']]],
    );
    const sid = changed[0]?.values.objectSid?.[0];
    assert.ok(Buffer.isBuffer(sid) && sid.length === 28, 'objectSid as bytes');

    // A deleted group stays until the deletion check is due by the injected clock, then goes.
    asAdmin('ldapdelete', [dnOf('ct-gDel')]);
    h.clock.advance(1000);
    await h.tracker.syncNow();
    assert.ok(h.graph.byGuid(id('ct-gDel')) !== undefined, 'no deletion check yet');
    h.clock.advance(4000);
    await h.tracker.syncNow();
    assert.equal(h.graph.byGuid(id('ct-gDel')), undefined, 'the deleted group is gone');
    assertGraphMatchesDc(h.graph, 'after the deletion');
  });

  it('a change committed while a poll runs is seen by the next poll (the watermark is read before the searches)', async () => {
    let armed = false;
    let searches = 0;
    const h = harness(config(), {}, (op) => {
      if (!armed || op.op !== 'tracking_search') return;
      searches += 1;
      // The third search of a quiet poll, after the changed-groups search: the DC commits a group change now
      // (synchronously, before the tracker sends anything more).
      if (searches === 3) {
        armed = false;
        modify(
          `dn: ${dnOf('ct-gC')}\nchangetype: modify\nadd: member\nmember: ${dnOf('ct-u2')}\n-\n`,
        );
      }
    });
    await h.tracker.syncNow();
    const g = guidsByCli();
    const gC = g.get('ct-gC') ?? '';
    const u2 = g.get('ct-u2') ?? '';
    assert.ok(!(h.graph.byGuid(gC)?.members.includes(u2) ?? true));
    armed = true;
    h.clock.advance(1000);
    await h.tracker.syncNow();
    assert.equal(searches, 3, 'the change was made during the poll');
    h.clock.advance(1000);
    await h.tracker.syncNow();
    assert.ok(h.graph.byGuid(gC)?.members.includes(u2), 'the change made during the previous poll');
    assertGraphMatchesDc(h.graph, 'after a change during a poll');
  });

  it('pageSize 2: the same graph over many pages, and a deletion check over every page', async () => {
    const h = harness(config(), { pageSize: 2 });
    await h.tracker.syncNow();
    assertGraphMatchesDc(h.graph, 'paged full read');
    const searches = count(h.ops, 'tracking_search');
    const groups = h.graph.stats().groups;
    assert.ok(searches >= 1 + groups / 2, `${searches} searches for ${groups} groups`);
    // Past the deletion check: listing every page keeps every live group.
    // Other test files create and delete groups meanwhile, so page counts vary: this OU's groups (more than one
    // page of them) must all survive the check, which drops every group it did not list.
    h.clock.advance(10_000);
    await h.tracker.syncNow();
    assertGraphMatchesDc(h.graph, 'after a paged deletion check');
  });

  it('ranged retrieval against Samba: member;range=N-M base reads with the extended DN control give every member', async () => {
    const client = new Client({
      url: env.urls[0] ?? '',
      tlsOptions: { ca: readFileSync(env.caFile), minVersion: 'TLSv1.2' },
    });
    try {
      await client.bind(env.bindDn, env.bindPassword);
      const dn = dnOf('ct-gDist');
      const read = async (base: string, attribute: string) =>
        (
          await client.search(
            base,
            {
              scope: 'base',
              filter: new PresenceFilter({ attribute: 'objectClass' }),
              attributes: [attribute],
            },
            new ExtendedDnControl(),
          )
        ).searchEntries[0];
      const firstEntry = await read(dn, 'member;range=0-0');
      assert.ok(firstEntry !== undefined);
      const first = rangedPart(firstEntry, 'member');
      assert.deepEqual(first?.range, { attribute: 'member', start: 0, end: 0 });
      const all = await readRangedValues(read, dn, 'member', first, 1);
      const want = groupsByCli();
      const dist = [...want.values()].find((x) => x.sam === 'ct-gDist');
      assert.deepEqual(all.map((v) => extended(String(v)).guid).sort(), dist?.members);
    } finally {
      await client.unbind();
    }
  });

  it('the poll timer runs polls by itself; close() stops it', async () => {
    const h = harness(config(), { pollIntervalMs: 100 });
    h.tracker.start();
    await waitUntil('first full read', () => h.tracker.state().freshAsOf !== undefined);
    h.clock.advance(1000);
    const want = h.clock.now().getTime();
    await waitUntil('a timer poll', () => h.tracker.state().freshAsOf === want);
    await h.tracker.close();
    const n = h.ops.length;
    await h.tracker.syncNow();
    assert.equal(h.ops.length, n, 'nothing after close');
  });

  it('close() ends a poll stuck on a DC that never answers, without a rejection', async () => {
    // A TCP listener that accepts and says nothing: TLS never completes, the (long) timeouts never fire first.
    const held: Socket[] = [];
    const silent = createServer((sock) => {
      held.push(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const url = `ldaps://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const h = harness(config({ urls: [url], connectTimeoutMs: 60_000, timeoutMs: 60_000 }));
      let settled = false;
      void h.tracker.syncNow().then(() => (settled = true));
      await waitUntil('the tracker connected to the silent DC', () => held.length > 0);
      let closed = false;
      void h.tracker.close().then(() => (closed = true));
      await waitUntil(
        () => `close() and syncNow() settled (close ${closed}, syncNow ${settled})`,
        () => closed && settled,
      );
      assert.equal(h.tracker.state().freshAsOf, undefined);
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise<void>((r) => {
        silent.close(() => {
          r();
        });
      });
    }
  });

  it('DC failover mid-stream: full resync on the next DC, the outage change seen; every DC down → lost, then recovery', async () => {
    const fw1 = await new Forwarder().start();
    const fw2 = await new Forwarder().start();
    forwarders.push(fw1, fw2);
    const h = harness(config({ urls: [fw1.url, fw2.url] }));
    await h.tracker.syncNow();
    assert.equal(h.tracker.state().dc, fw1.url);
    const g = guidsByCli();
    const gNew = g.get('ct-gNew') ?? '';
    const u2 = g.get('ct-u2') ?? '';

    await fw1.kill();
    modify(
      `dn: ${dnOf('ct-gNew')}\nchangetype: modify\nadd: member\nmember: ${dnOf('ct-u2')}\n-\n`,
    );
    h.clock.advance(1000);
    h.states.length = 0;
    await h.tracker.syncNow();
    const st = h.tracker.state();
    assert.equal(st.mode, 'tracking', st.lastError);
    assert.equal(st.dc, fw2.url);
    assert.equal(st.freshAsOf, h.clock.now().getTime());
    assert.deepEqual(
      h.resyncs.map((r) => [r.dc, r.reason]),
      [
        [fw1.url, 'start'],
        [fw2.url, 'dc-switch'],
      ],
    );
    assert.deepEqual(
      h.states.map((s) => s.mode),
      ['resyncing', 'tracking'],
    );
    assert.ok(h.graph.byGuid(gNew)?.members.includes(u2), 'the change made during the outage');
    assertGraphMatchesDc(h.graph, 'after failover');

    // Every DC down: lost, freshAsOf stays where it was.
    const fresh = h.tracker.state().freshAsOf;
    await fw2.kill();
    modify(
      `dn: ${dnOf('ct-gNew')}\nchangetype: modify\ndelete: member\nmember: ${dnOf('ct-u2')}\n-\n`,
    );
    h.clock.advance(1000);
    await h.tracker.syncNow();
    const lost = h.tracker.state();
    assert.equal(lost.mode, 'lost');
    assert.equal(lost.freshAsOf, fresh);
    assert.match(lost.lastError ?? '', /127\.0\.0\.1/);
    assert.ok(!(lost.lastError ?? '').includes(env.bindPassword));
    h.clock.advance(1000);
    await h.tracker.syncNow();
    assert.equal(h.tracker.state().freshAsOf, fresh, 'still lost, freshAsOf does not advance');

    // The DC it tracked comes back: a poll (same DC, no resync), the change made while lost applied.
    await fw2.start();
    h.clock.advance(1000);
    await h.tracker.syncNow();
    const back = h.tracker.state();
    assert.equal(back.mode, 'tracking', back.lastError);
    assert.equal(back.dc, fw2.url);
    assert.equal(back.freshAsOf, h.clock.now().getTime());
    assert.equal(back.resyncs, 2);
    assert.ok(!(h.graph.byGuid(gNew)?.members.includes(u2) ?? true), 'the change made while lost');
    assertGraphMatchesDc(h.graph, 'after recovery');
  });

  it('a wrong service password: lost with a clear lastError, never tried on the next DC, retried with a doubling back-off', async () => {
    const h = harness(
      config({
        urls: [env.urls[0] ?? '', env.urls[0] ?? ''],
        bindDn: dnOf('ct-svc'),
        bindPassword: 'Wrong-password-1',
      }),
    );
    await h.tracker.syncNow();
    const st = h.tracker.state();
    assert.equal(st.mode, 'lost');
    assert.equal(st.freshAsOf, undefined);
    assert.match(st.lastError ?? '', /refused the service account's bind \(ldap:49/);
    assert.match(st.lastError ?? '', /bindPassword/);
    assert.ok(!(st.lastError ?? '').includes('Wrong-password-1'));
    assert.equal(count(h.ops, 'tracking_bind'), 1, 'one bind, not retried, not on the second DC');
    assert.equal(count(h.ops, 'tracking_search'), 0);
    assert.match(st.lastError ?? '', /next try in 30 s/);
    // Backing off by the injected clock: each refusal counts toward the account's lockout.
    await h.tracker.syncNow();
    assert.equal(count(h.ops, 'tracking_bind'), 1, 'no bind before the back-off ends');
    h.clock.advance(30_000);
    await h.tracker.syncNow();
    assert.equal(count(h.ops, 'tracking_bind'), 2, 'one more bind after 30 s');
    assert.match(h.tracker.state().lastError ?? '', /next try in 60 s/);
    h.clock.advance(30_000);
    await h.tracker.syncNow();
    assert.equal(count(h.ops, 'tracking_bind'), 2, 'the back-off doubled');
    h.clock.advance(30_000);
    await h.tracker.syncNow();
    assert.equal(count(h.ops, 'tracking_bind'), 3);
    assert.equal(h.tracker.state().mode, 'lost');
    // The right password for the same account works (the account is sound; the password was the problem).
    const ok = harness(config({ bindDn: dnOf('ct-svc'), bindPassword: SVC_PASSWORD }));
    await ok.tracker.syncNow();
    assert.equal(ok.tracker.state().mode, 'tracking', ok.tracker.state().lastError);
  });
});
