/**
 * The directory cache's DirectoryProvider (CachedDirectory, issue 22) against the Samba AD DC, counted in DC
 * operations (deps.onOperation, the tracker's own tracking_* operations left out): a warm sign-in with its
 * tokenGroups read is one bind, a cold one a search and a bind; security state is the bind's at once (disabled,
 * password reset); a user moved to another OU signs in on the first try; past the staleness bound every call goes to
 * the DC and the audit hears 'degraded' once, then 'restored'; the LRU bound holds.
 *
 * Objects live in OU=CacheSignin (this file's own OU), re-created per run as Administrator. The staleness bound is
 * 300 s (the schema's maximum) so the tracker's background poll (every 100 s) never runs during the file: the test
 * drives it with syncNow() and moves the injected clock itself.
 *
 * Wrong passwords used (lockout budget, AD threshold 5): csp-wrong 1, csp-pwd 1 (its old password after the reset).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AlreadyExistsError, Filter, type Client } from 'ldapts';
import { pino } from 'pino';
import { CachedDirectory } from '../../server/directory/cache/cached-directory.ts';
import { createDirectory } from '../../server/directory/index.ts';
import type {
  AuthResult,
  DirectoryCacheEvent,
  DirectoryOperation,
  DirectoryProvider,
} from '../../server/directory/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  addSecurityGroup,
  addUser,
  change,
  newPassword,
  sidText,
  unicodePwd,
} from '../helpers/ad-seed.ts';
import { adminClient, deleteSubtree } from '../helpers/doctor-seed.ts';
import { ldapsearchCli, sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';

const env = sambaEnv();
const OU = `OU=CacheSignin,${env.baseDn}`;
const OU_A = `OU=A,${OU}`;
const OU_B = `OU=B,${OU}`;
const BOUND_S = 300;
/** sAMAccountName prefix: names are unique in the whole domain. */
const P = 'csp-';
const USERS = [
  'boot',
  'warm',
  'dis',
  'pwd',
  'move',
  'wrong',
  'stale',
  'attr',
  'lru1',
  'lru2',
  'lru3',
] as const;
type UserKey = (typeof USERS)[number];
const sam = (k: string): string => `${P}${k}`;
const dnOf = (k: string, ou = OU_A): string => `CN=${sam(k)},${ou}`;
const upnOf = (k: UserKey): string => `${sam(k)}@${env.upnSuffix}`;
const account = (k: UserKey): string => `${env.netbiosDomain}\\${sam(k)}`;

/** 'ok', or the failure kind. */
const outcome = (r: AuthResult): string => (r.ok ? 'ok' : r.kind);

/** S-1-… → binary SID ([MS-DTYP] §2.4.2.2), written here for the same reason. */
function sidBytes(sid: string): Buffer {
  const [, rev, auth, ...subs] = sid.split('-').map(Number) as [
    number,
    number,
    number,
    ...number[],
  ];
  const b = Buffer.alloc(8 + 4 * subs.length);
  b.writeUInt8(rev, 0);
  b.writeUInt8(subs.length, 1);
  b.writeUIntBE(auth, 2, 6);
  subs.forEach((s, i) => b.writeUInt32LE(s, 8 + 4 * i));
  return b;
}

/** tokenGroups as the ldapsearch CLI (OpenLDAP, as Administrator) reads it from the DC: SID strings, sorted. */
function tokenGroupsWithCli(dn: string): string[] {
  const ldif = ldapsearchCli(env, {
    base: dn,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['tokenGroups'],
  });
  return ldif
    .split('\n')
    .filter((l) => l.toLowerCase().startsWith('tokengroups:: '))
    .map((l) => sidText(Buffer.from(l.slice('tokengroups:: '.length), 'base64')))
    .sort();
}

describe('directory cache provider: DC operations per sign-in, security state from the bind (Samba AD DC)', () => {
  const clock = new FixedClock(Date.now());
  const passwords = new Map<UserKey, string>();
  const ops: DirectoryOperation[] = [];
  const events: DirectoryCacheEvent[] = [];
  const groupSids = new Map<string, string>();
  let admin: Client;
  let dir: CachedDirectory;

  const pw = (u: UserKey): string => passwords.get(u) ?? '';
  /**
   * The sign-in path's searches and binds since the last call, in order (tracking_* left out; connection set-up,
   * connect and service_bind, happens once per pooled connection and is not per sign-in).
   */
  const take = (): string[] =>
    ops
      .splice(0)
      .map((o) => o.op)
      .filter((o) => o !== 'connect' && o !== 'service_bind');
  const open = async (maxUsers: number): Promise<CachedDirectory> => {
    const d: DirectoryProvider = await createDirectory(
      sambaLdapConfig(env, { baseDn: OU, cache: { maxStalenessSeconds: BOUND_S, maxUsers } }),
      {
        logger: pino({ level: 'silent' }),
        clock,
        baseDir: '/',
        onOperation: (op) => {
          if (!op.op.startsWith('tracking_')) ops.push(op);
        },
        onCacheEvent: (e) => events.push(e),
        cachedAttributes: ['mail', 'displayName'],
      },
    );
    assert.ok(d instanceof CachedDirectory, 'cache.maxStalenessSeconds > 0 gives the cache');
    await d.tracker.syncNow();
    assert.equal(d.cacheStatus().serving, true, 'serving after the first full read');
    // The first bind on a DC reads its rootDSE once for fast concurrent bind, which Samba does not list: no
    // extended operation is sent and the binds stay ordinary simple binds.
    assert.deepEqual(
      d.fastBindSupport().map((s) => s.supported),
      [undefined],
    );
    take();
    assert.equal((await d.authenticate(upnOf('boot'), pw('boot'))).ok, true);
    // The bind is reported as it starts; the rootDSE read runs inside it, before the new connection's first bind.
    assert.deepEqual(take(), ['search', 'bind', 'search'], 'user search, bind, rootDSE read');
    assert.deepEqual(d.fastBindSupport(), [{ url: env.urls[0], supported: false }]);
    return d;
  };

  before(async () => {
    admin = await adminClient(env);
    await deleteSubtree(admin, OU);
    for (const ou of [OU, OU_A, OU_B]) {
      try {
        await admin.add(ou, { objectClass: ['top', 'organizationalUnit'] });
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
    }
    // csp-inner (global security) inside csp-outer: tokenGroups holds both, the DC computing the nesting.
    for (const g of ['inner', 'outer'])
      groupSids.set(g, await addSecurityGroup(admin, dnOf(g, OU), sam(g)));
    await admin.modify(dnOf('outer', OU), change('add', 'member', [dnOf('inner', OU)]));
    for (const u of USERS) {
      const password = newPassword();
      passwords.set(u, password);
      await addUser(
        admin,
        { dn: dnOf(u), sam: sam(u), upn: upnOf(u), password },
        { mail: [`${sam(u)}@mail.example`] },
      );
      await admin.modify(dnOf('inner', OU), change('add', 'member', [dnOf(u)]));
    }
    dir = await open(1000);
    take();
  });

  after(async () => {
    await dir.close();
    await deleteSubtree(admin, OU);
    await admin.unbind();
  });

  test('cold sign-in: one search and one bind; warm sign-in with its tokenGroups read: exactly one bind', async () => {
    const cold = await dir.authenticate(upnOf('warm'), pw('warm'));
    assert.equal(cold.ok, true);
    assert.deepEqual(take(), ['search', 'bind']);

    const warm = await dir.authenticate(upnOf('warm'), pw('warm'));
    assert.equal(warm.ok, true);
    const [row] = await dir.queryAttributes({
      account: account('warm'),
      attributes: ['tokenGroups', 'primaryGroupID'],
    });
    assert.deepEqual(take(), ['bind'], 'a warm sign-in and its tokenGroups read: the bind alone');
    assert.equal(row?.primaryGroupID?.[0], '513');

    // The sign-in page's flow (authn/password.ts): findUser, then authenticate with what it resolved.
    const user = await dir.findUser(`${env.netbiosDomain}\\${sam('warm')}`);
    const again = await dir.authenticate(`${env.netbiosDomain}\\${sam('warm')}`, pw('warm'), {
      user,
    });
    assert.equal(again.ok, true);
    assert.deepEqual(take(), ['bind']);
  });

  test("tokenGroups from the cache equals the DC's, read with the ldapsearch CLI", async () => {
    const [row] = await dir.queryAttributes({
      account: account('warm'),
      attributes: ['tokenGroups'],
    });
    assert.deepEqual(take(), [], 'answered from the cache');
    const cached = (row?.tokenGroups ?? []).map((v) => {
      assert.ok(Buffer.isBuffer(v), 'SIDs as bytes, as the DC returns them');
      return sidText(v);
    });
    const expected = tokenGroupsWithCli(dnOf('warm'));
    assert.ok(expected.includes(groupSids.get('inner') ?? '-'), 'direct group');
    assert.ok(expected.includes(groupSids.get('outer') ?? '-'), 'nested group');
    assert.deepEqual(cached.sort(), expected);

    // The claim store's group-name look-up by objectSid: from the graph, equal to what the DC holds.
    const sids = [groupSids.get('inner') ?? '', groupSids.get('outer') ?? ''];
    // As the claims' AD store writes it (claims/ad-store.ts): binary SIDs, RFC 4515-escaped.
    const filter = `(|${sids.map((s) => `(objectSid=${Filter.escape(sidBytes(s))})`).join('')})`;
    const rows = await dir.queryAttributes({
      account: account('warm'),
      filter,
      attributes: ['objectSid', 'sAMAccountName', 'distinguishedName'],
    });
    assert.deepEqual(take(), [], 'group names from the graph');
    const byCli = ldapsearchCli(env, {
      base: OU,
      scope: 'one',
      filter: '(objectClass=group)',
      attributes: ['sAMAccountName'],
    });
    const got = rows
      .map((r) => `${String(r.distinguishedName?.[0])}|${String(r.sAMAccountName?.[0])}`)
      .sort();
    const want = byCli
      .split('\n\n')
      .filter((b) => b.trim() !== '')
      .map((b) => {
        const dn = /^dn: (.*)$/m.exec(b)?.[1] ?? '';
        const name = /^sAMAccountName: (.*)$/im.exec(b)?.[1] ?? '';
        return `${dn}|${name}`;
      })
      .sort();
    assert.deepEqual(got, want);
    assert.deepEqual(rows.map((r) => sidText(r.objectSid?.[0] as Buffer)).sort(), [...sids].sort());
  });

  test('an account disabled by Administrator is refused by the very next sign-in, with no wait', async () => {
    assert.equal((await dir.authenticate(upnOf('dis'), pw('dis'))).ok, true);
    take();
    await admin.modify(dnOf('dis'), change('replace', 'userAccountControl', ['514']));
    const r = await dir.authenticate(upnOf('dis'), pw('dis'));
    assert.equal(outcome(r), 'disabled');
    assert.deepEqual(take(), ['bind'], 'the cached entry was used; the bind refused');
  });

  test('a password reset by Administrator: the old one refused, the new one accepted at once', async () => {
    assert.equal((await dir.authenticate(upnOf('pwd'), pw('pwd'))).ok, true);
    take();
    const fresh = newPassword();
    // Two resets: Samba, like AD for NTLM (OldPasswordAllowedPeriod), still accepts the previous password for 60
    // minutes (smb.conf "old password allowed period"), so only a password two resets back is one the DC refuses.
    await admin.modify(dnOf('pwd'), change('replace', 'unicodePwd', [unicodePwd(newPassword())]));
    await admin.modify(dnOf('pwd'), change('replace', 'unicodePwd', [unicodePwd(fresh)]));
    const old = await dir.authenticate(upnOf('pwd'), pw('pwd'));
    assert.equal(outcome(old), 'bad_credentials');
    assert.equal(take().filter((o) => o === 'bind').length, 1, 'a refused password is bound once');
    passwords.set('pwd', fresh);
    assert.equal((await dir.authenticate(upnOf('pwd'), fresh)).ok, true);
  });

  test('a wrong password on a cached user is bound once, never retried (AD lockout counts each bind)', async () => {
    assert.equal((await dir.authenticate(upnOf('wrong'), pw('wrong'))).ok, true);
    take();
    const r = await dir.authenticate(upnOf('wrong'), `${pw('wrong')}x`);
    assert.equal(r.ok ? '' : r.reason, 'ad:52e');
    // The failed cached bind is followed by a search (was the DN still the account's?) and nothing more.
    assert.deepEqual(take(), ['bind', 'search']);
  });

  test('a user moved to another OU signs in on the first try (the cached DN no longer exists)', async () => {
    const name = upnOf('move');
    assert.equal((await dir.authenticate(name, pw('move'))).ok, true);
    const cached = await dir.findUser(name);
    assert.equal(cached?.dn, dnOf('move'));
    take();
    await admin.modifyDN(dnOf('move'), `CN=${sam('move')},${OU_B}`);
    // No sync: the cache still holds the old DN, and the sign-in page passes it in.
    const r = await dir.authenticate(name, pw('move'), { user: cached });
    assert.equal(outcome(r), 'ok');
    assert.equal(r.ok ? r.user.dn : '', dnOf('move', OU_B));
    // Samba answers a bind to a DN that does not exist with 52e (AD: 525): the search finds the new DN, then the
    // one bind that counts.
    assert.deepEqual(take(), ['bind', 'search', 'bind']);
    assert.equal((await dir.authenticate(name, pw('move'))).ok, true);
    assert.deepEqual(take(), ['bind'], 'the new DN is cached');
  });

  test('a session re-check by objectGUID asks the DC: a deleted account is gone at once, though change tracking cannot see deletions', async () => {
    // csp-del is created here and deleted: AD hides the tombstone from the service account, so no poll reports it.
    const password = newPassword();
    await addUser(admin, {
      dn: dnOf('del'),
      sam: sam('del'),
      upn: `${sam('del')}@${env.upnSuffix}`,
      password,
    });
    const signedIn = await dir.authenticate(`${sam('del')}@${env.upnSuffix}`, password);
    assert.ok(signedIn.ok);
    const guid = signedIn.user.objectGuid;
    assert.equal((await dir.findByObjectGuid(guid))?.dn, dnOf('del'));
    take();
    await admin.del(dnOf('del'));
    await dir.tracker.syncNow();
    assert.equal(dir.cacheStatus().serving, true);
    assert.equal(await dir.findByObjectGuid(guid), undefined, 'the deleted account is not found');
    assert.deepEqual(take(), ['search'], 'one search on the DC');
  });

  test('change tracking drops an entry whose cached values changed, and keeps one whose entry changed elsewhere', async () => {
    assert.equal((await dir.authenticate(upnOf('attr'), pw('attr'))).ok, true);
    take();
    // description is not kept by the cache: uSNChanged moves (as a logon's lastLogonTimestamp does in AD), the
    // values the cache holds do not, so the entry stays.
    await admin.modify(dnOf('attr'), change('replace', 'description', ['touched']));
    await dir.tracker.syncNow();
    assert.ok(await dir.findUser(upnOf('attr')));
    assert.deepEqual(take(), [], 'still cached');
    // mail is kept (a claim rule reads it): the entry is dropped and read again.
    await admin.modify(dnOf('attr'), change('replace', 'mail', ['changed@mail.example']));
    await dir.tracker.syncNow();
    const [row] = await dir.queryAttributes({ account: account('attr'), attributes: ['mail'] });
    assert.deepEqual(take(), ['search'], 'read from the DC');
    assert.deepEqual(row?.mail, ['changed@mail.example']);
    assert.ok(await dir.findUser(upnOf('attr')));
    assert.deepEqual(take(), ['search'], 'read again, and cached');
    await dir.queryAttributes({ account: account('attr'), attributes: ['mail'] });
    assert.deepEqual(take(), [], 'cached again');
  });

  test("past the staleness bound every call goes to the DC; 'degraded' once, then 'restored'", async () => {
    assert.equal((await dir.authenticate(upnOf('stale'), pw('stale'))).ok, true);
    take();
    events.length = 0;
    clock.advance((BOUND_S + 1) * 1000);
    for (let i = 0; i < 2; i++) {
      const r = await dir.authenticate(upnOf('stale'), pw('stale'));
      assert.equal(r.ok, true, 'never refused because the cache is unsure');
      assert.deepEqual(take(), ['search', 'bind'], 'read from the DC, not the cache');
    }
    await dir.queryAttributes({ account: account('stale'), attributes: ['tokenGroups'] });
    assert.deepEqual(take(), ['search', 'search'], 'tokenGroups from the DC (search + base read)');
    assert.equal(dir.cacheStatus().serving, false);
    assert.deepEqual(
      events.map((e) => [e.action, e.reason]),
      [['degraded', 'stale']],
    );
    assert.ok((events[0]?.stalenessSeconds ?? 0) > BOUND_S);

    await dir.tracker.syncNow();
    assert.equal((await dir.authenticate(upnOf('stale'), pw('stale'))).ok, true);
    // The entry survived (it was never re-read from another DC), so serving again is the bind alone.
    assert.deepEqual(take(), ['bind']);
    assert.equal((await dir.authenticate(upnOf('stale'), pw('stale'))).ok, true);
    take();
    assert.deepEqual(
      events.map((e) => e.action),
      ['degraded', 'restored'],
    );
  });

  test('the LRU bound (cache.maxUsers) is respected: the least recently used is read again', async () => {
    const small = await open(2);
    try {
      take();
      for (const u of ['lru1', 'lru2', 'lru3'] as const) {
        assert.equal((await small.authenticate(upnOf(u), pw(u))).ok, true);
        assert.deepEqual(take(), ['search', 'bind'], `${u} cold`);
      }
      assert.equal(small.cacheStatus().users, 2);
      assert.equal((await small.authenticate(upnOf('lru3'), pw('lru3'))).ok, true);
      assert.deepEqual(take(), ['bind'], 'lru3 warm');
      assert.equal((await small.authenticate(upnOf('lru1'), pw('lru1'))).ok, true);
      assert.deepEqual(take(), ['search', 'bind'], 'lru1 was evicted');
      assert.equal(small.cacheStatus().users, 2);
    } finally {
      await small.close();
    }
  });
});
