/**
 * The "Active Directory" store's per-sign-in answer from the entry the request already read
 * (ActiveDirectoryStore.forUser): against the real Samba AD DC, every query it answers itself gives exactly what
 * the DC gives for the same query, and every query it must not answer (another account, another domain, a
 * different filter, attributes the entry does not carry) still goes to the DC.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { ActiveDirectoryStore } from '../../server/claims/ad-store.ts';
import { createDirectory, type DirectoryOperation } from '../../server/directory/index.ts';
import type { DirectoryProvider, DirectoryUser } from '../../server/directory/types.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';

const env = sambaEnv();

describe('Active Directory store: queries about the signed-in user answered from the entry read (Samba AD DC)', () => {
  let dir: DirectoryProvider;
  const ops: DirectoryOperation[] = [];
  let store: ActiveDirectoryStore;
  const users = new Map<string, DirectoryUser>();
  before(async () => {
    dir = await createDirectory(sambaLdapConfig(env), {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: '/',
      onOperation: (op) => ops.push(op),
    });
    store = new ActiveDirectoryStore(dir);
    for (const name of ['jdoe', 'consistency1', 'fabrikam1']) {
      const u = await dir.findUser(name);
      assert.ok(u !== undefined, name);
      users.set(name, u);
    }
  });
  after(async () => {
    await dir.close();
  });

  /** Runs the query both ways; returns how many directory operations the per-user path made. */
  async function both(user: DirectoryUser, query: string, params: string[]): Promise<number> {
    const direct = await store.query(query, params);
    const before = ops.length;
    const scoped = await store.forUser(user).query(query, params);
    const used = ops.length - before;
    assert.deepEqual(scoped, direct, `${query} ${params.join(',')}`);
    return used;
  }

  test("the Microsoft 365 rules' own-entry queries give the DC's answer with no directory operation", async () => {
    for (const [name, user] of users) {
      const wan = user.windowsAccountName;
      const sam = user.sAMAccountName;
      const cases: [string, string[]][] = [
        ['samAccountName={0};userPrincipalName;{1}', [sam, wan]],
        ['samAccountName={0};objectGUID,mS-DS-ConsistencyGuid;{1}', [sam, wan]],
        [';objectguid;{0}', [wan]],
        [';userPrincipalName,distinguishedName,sAMAccountName;{0}', [wan]],
        // Case differences AD ignores: attribute name, account name, domain.
        ['SAMACCOUNTNAME={0};USERPRINCIPALNAME;{1}', [sam.toUpperCase(), wan.toLowerCase()]],
      ];
      for (const [q, p] of cases) assert.equal(await both(user, q, p), 0, `${name}: ${q}`);
    }
    // consistency1 has mS-DS-ConsistencyGuid: the entry path must carry it (Entra's ImmutableID source).
    const c = users.get('consistency1')!;
    const [, cg] = await store
      .forUser(c)
      .query('samAccountName={0};objectGUID,mS-DS-ConsistencyGuid;{1}', [
        c.sAMAccountName,
        c.windowsAccountName,
      ]);
    assert.equal(cg?.length, 1);
  });

  test('anything else goes to the directory: another account, another filter, attributes the entry lacks', async () => {
    const jdoe = users.get('jdoe')!;
    const other = users.get('consistency1')!;
    const cases: [string, string[]][] = [
      // Another user's entry, by filter and by account.
      ['samAccountName={0};userPrincipalName;{1}', [other.sAMAccountName, jdoe.windowsAccountName]],
      [';userPrincipalName;{0}', [other.windowsAccountName]],
      // A filter that is not the plain sAMAccountName equality (still matching jdoe).
      [
        '(&(objectClass=user)(samAccountName={0}));userPrincipalName;{1}',
        ['jdoe', jdoe.windowsAccountName],
      ],
      [
        'userPrincipalName={0};sAMAccountName;{1}',
        [jdoe.userPrincipalName!, jdoe.windowsAccountName],
      ],
      // Attributes DirectoryUser does not hold as read.
      [';memberOf;{0}', [jdoe.windowsAccountName]],
      [';mail,userPrincipalName;{0}', [jdoe.windowsAccountName]],
      [';tokenGroups(SID);{0}', [jdoe.windowsAccountName]],
    ];
    for (const [q, p] of cases) assert.ok((await both(jdoe, q, p)) > 0, q);
    // The same name in another domain is not this user: the directory path refuses the foreign domain.
    await assert.rejects(
      store
        .forUser(jdoe)
        .query('samAccountName={0};userPrincipalName;{1}', ['jdoe', 'OTHER\\jdoe']),
    );
  });
});
