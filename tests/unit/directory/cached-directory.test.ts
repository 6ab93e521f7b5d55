// CachedDirectory's reactions to what change tracking reports (server/directory/cache/cached-directory.ts), with the
// tracker driven by hand: its state and events are set here, so each case (a full resync, a first read that
// fails, a DC other than the tracker's, a change arriving during a read) happens exactly when the test says. The
// LDAP directory and the group graph are the real ones, against the Samba AD DC (read-only: successful binds of
// jdoe only). The real tracker runs in tests/integration/directory-cache-provider.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'ldapts';
import { pino } from 'pino';
import {
  CachedDirectory,
  pollIntervalFor,
} from '../../../server/directory/cache/cached-directory.ts';
import { GroupGraph } from '../../../server/directory/cache/group-graph.ts';
import type {
  ChangeTrackerApi,
  TrackerEvents,
  TrackerOptions,
  TrackerState,
} from '../../../server/directory/cache/types.ts';
import { FAST_BIND_OID, LdapDirectory, supportsFastBind } from '../../../server/directory/ldap.ts';
import { BindPool } from '../../../server/directory/pool.ts';
import type { DirectoryCacheEvent, DirectoryOperation } from '../../../server/directory/types.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { sambaEnv, sambaLdapConfig } from '../../helpers/samba.ts';

const env = sambaEnv();
const DC = env.urls[0] ?? '';
const BOUND_S = 5;

/** A tracker whose state and events the test sets. */
class HandTracker implements ChangeTrackerApi {
  st: TrackerState = {
    mode: 'starting',
    freshAsOf: undefined,
    dc: undefined,
    usn: undefined,
    resyncs: 0,
  };
  events: TrackerEvents = {};
  options: TrackerOptions | undefined;
  started = 0;
  start(): void {
    this.started++;
  }
  syncNow(): Promise<void> {
    return Promise.resolve();
  }
  state(): TrackerState {
    return this.st;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  set(st: Partial<TrackerState>): void {
    this.st = { ...this.st, ...st };
    this.events.onStateChange?.(this.st);
  }
}

describe('CachedDirectory and change tracking (hand-driven tracker, Samba AD DC)', () => {
  const clock = new FixedClock(Date.now());
  const ops: DirectoryOperation[] = [];
  const cacheEvents: DirectoryCacheEvent[] = [];
  const tracker = new HandTracker();
  let dir: CachedDirectory;
  const jdoe = env.users.jdoe;
  const take = (): string[] =>
    ops
      .splice(0)
      .map((o) => o.op)
      .filter((o) => o === 'search' || o === 'bind');

  before(() => {
    const config = sambaLdapConfig(env, { cache: { maxStalenessSeconds: BOUND_S, maxUsers: 100 } });
    const deps = {
      logger: pino({ level: 'silent' }),
      clock,
      baseDir: '/',
      onOperation: (op: DirectoryOperation) => ops.push(op),
      onCacheEvent: (e: DirectoryCacheEvent) => cacheEvents.push(e),
    };
    dir = new CachedDirectory(new LdapDirectory(config, deps), config, deps, {
      graph: new GroupGraph(),
      createTracker: (_graph, options, events) => {
        tracker.options = options;
        tracker.events = events;
        return tracker;
      },
    });
  });
  after(() => dir.close());

  it('polls three times per bound, never faster than every 250 ms; tracks the values it caches', () => {
    assert.equal(pollIntervalFor(5), 1666);
    assert.equal(pollIntervalFor(0.3), 250);
    const options: TrackerOptions | undefined = tracker.options;
    assert.ok(options);
    assert.equal(options.pollIntervalMs, 1666);
    const tracked = options.userAttributes.map((a) => a.toLowerCase());
    for (const a of ['useraccountcontrol', 'pwdlastset', 'primarygroupid', 'userprincipalname'])
      assert.ok(tracked.includes(a), a);
  });

  it('before the first full read every call goes to the DC, with no event; a failed first read is degraded', async () => {
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.equal(tracker.started, 1, 'tracking starts on first use');
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    // The first bind also reads the DC's rootDSE once (fast concurrent bind detection, ldap.ts).
    assert.deepEqual(take(), ['search', 'bind', 'search', 'search', 'bind']);
    assert.equal(cacheEvents.length, 0);
    tracker.set({ mode: 'lost', lastError: 'connection: ECONNREFUSED' });
    tracker.set({ mode: 'lost', lastError: 'connection: ECONNREFUSED' });
    assert.deepEqual(
      cacheEvents.map((e): string[] => [e.action, e.reason]),
      [['degraded', 'connection: ECONNREFUSED']],
    );
    assert.equal(dir.cacheStatus().serving, false);
  });

  it("serves once tracking is current ('restored'); a tracker lost but within the bound still serves", async () => {
    cacheEvents.length = 0;
    const now = clock.now().getTime();
    tracker.set({ mode: 'tracking', freshAsOf: now, dc: DC, lastError: undefined, resyncs: 1 });
    assert.deepEqual(
      cacheEvents.map((e) => e.action),
      ['restored'],
    );
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['search', 'bind'], 'cold');
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['bind'], 'warm');
    clock.advance(BOUND_S * 1000);
    tracker.set({ mode: 'lost', lastError: 'timeout' });
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['bind'], 'exactly at the bound: still served');
    clock.advance(1);
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['search', 'bind'], 'past it: direct');
    assert.deepEqual(
      cacheEvents.map((e): string[] => [e.action, e.reason]),
      [
        ['restored', 'tracking current'],
        ['degraded', 'timeout'],
      ],
    );
    tracker.set({ mode: 'tracking', freshAsOf: clock.now().getTime(), lastError: undefined });
  });

  it('a full resync drops every cached user', async () => {
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    take();
    assert.ok((await dir.findUser(jdoe.upn)) !== undefined);
    assert.deepEqual(take(), [], 'cached');
    cacheEvents.length = 0;
    // Same DC, USN went backwards (restored from backup): only dropping everything keeps stale entries out.
    tracker.events.onResync?.({ dc: DC, reason: 'usn-regressed', groups: 0, ms: 12 });
    assert.deepEqual(cacheEvents, [
      { action: 'resync', reason: 'usn-regressed', dc: DC, groups: 0, durationMs: 12 },
    ]);
    assert.equal(dir.cacheStatus().users, 0);
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['search', 'bind']);
  });

  it('entries read from a DC other than the one tracking follows are not served', async () => {
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    take();
    tracker.set({ dc: 'ldaps://dc2.corp.example.test' });
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['search', 'bind']);
    assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
    assert.deepEqual(take(), ['search', 'bind'], 'and not cached either');
    tracker.set({ dc: DC });
  });

  it('a read that overlapped a tracked change is not cached (its values may predate the change)', async () => {
    tracker.events.onResync?.({ dc: DC, reason: 'start', groups: 0, ms: 1 });
    const pending = dir.findUser(jdoe.upn);
    tracker.events.onUsersChanged?.([
      { guid: '00000000-0000-0000-0000-000000000000', dn: 'CN=x', values: {} },
    ]);
    assert.ok(await pending);
    take();
    assert.ok(await dir.findUser(jdoe.upn));
    assert.deepEqual(take(), ['search'], 'read again');
    assert.ok(await dir.findUser(jdoe.upn));
    assert.deepEqual(take(), [], 'this one was cached');
  });
});

describe('CachedDirectory reads users from the DC tracking follows (Samba AD DC under two URLs)', () => {
  it('a cold read goes to the tracked DC first, so its entry can be cached and served', async () => {
    // Two URLs of the one test DC (as tests/integration/ldap-failover.test.ts): the LDAP directory prefers the first,
    // tracking follows the second (where it stays after a failover).
    const second = 'ldaps://localhost:636';
    const config = sambaLdapConfig(env, {
      urls: [DC, second],
      cache: { maxStalenessSeconds: BOUND_S, maxUsers: 100 },
    });
    const clock = new FixedClock(Date.now());
    const ops: DirectoryOperation[] = [];
    const deps = {
      logger: pino({ level: 'silent' }),
      clock,
      baseDir: '/',
      onOperation: (op: DirectoryOperation) => ops.push(op),
    };
    const tracker = new HandTracker();
    const dir = new CachedDirectory(new LdapDirectory(config, deps), config, deps, {
      graph: new GroupGraph(),
      createTracker: (_graph, _options, events) => {
        tracker.events = events;
        return tracker;
      },
    });
    try {
      tracker.set({ mode: 'tracking', freshAsOf: clock.now().getTime(), dc: second, resyncs: 1 });
      const jdoe = env.users.jdoe;
      assert.ok(await dir.findUser(jdoe.upn));
      assert.deepEqual(
        ops.filter((o) => o.op === 'search').map((o) => o.url),
        [second],
        'searched on the tracked DC',
      );
      ops.length = 0;
      assert.equal((await dir.authenticate(jdoe.upn, jdoe.password)).ok, true);
      assert.deepEqual(
        ops.filter((o) => o.op === 'search' || o.op === 'bind').map((o) => o.op),
        ['bind', 'search'],
        'warm: the bind (on the first DC), then its one rootDSE read',
      );
    } finally {
      await dir.close();
    }
  });
});

describe('fast concurrent bind (LDAP_SERVER_FAST_BIND_OID)', () => {
  it("is detected from the rootDSE's supportedExtension", () => {
    // What AD DS lists (excerpt), and what this Samba lists (no 1.2.840.113556.1.4.1781).
    assert.equal(
      supportsFastBind([
        '1.3.6.1.4.1.1466.20037',
        '1.2.840.113556.1.4.1781',
        '1.3.6.1.4.1.4203.1.11.3',
      ]),
      true,
    );
    assert.equal(supportsFastBind([Buffer.from('1.2.840.113556.1.4.1781')]), true);
    assert.equal(supportsFastBind(['1.3.6.1.4.1.1466.20037', '1.3.6.1.4.1.4203.1.11.3']), false);
    assert.equal(supportsFastBind(['1.2.840.113556.1.4.17811']), false);
    assert.equal(supportsFastBind([]), false);
  });

  it('the pool prepares each new connection once, before its first bind, and again after a reconnect', async () => {
    const log: string[] = [];
    const make = (): Client => {
      let connected = false;
      return {
        get isConnected() {
          return connected;
        },
        bind: (dn: string) => {
          connected = true;
          log.push(`bind ${dn}`);
          return Promise.resolve();
        },
        exop: (oid: string) => {
          connected = true;
          log.push(`exop ${oid}`);
          return Promise.resolve({});
        },
        drop: () => {
          connected = false;
        },
        unbind: () => Promise.resolve(),
      } as unknown as Client;
    };
    let created: Client | undefined;
    const pool = new BindPool(
      1,
      () => {
        created = make();
        return created;
      },
      {
        maxWaitMs: 1000,
        prepare: async (c) => {
          await c.exop(FAST_BIND_OID);
        },
      },
    );
    await pool.bind('cn=a', 'p');
    await pool.bind('cn=b', 'p');
    (created as unknown as { drop: () => void }).drop();
    await pool.bind('cn=c', 'p');
    assert.deepEqual(log, [
      `exop ${FAST_BIND_OID}`,
      'bind cn=a',
      'bind cn=b',
      `exop ${FAST_BIND_OID}`,
      'bind cn=c',
    ]);
    await pool.close();
  });
});
