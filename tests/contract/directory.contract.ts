/**
 * The DirectoryProvider contract (server/directory/types.ts), run against every implementation:
 * directory-ldap.test.ts (real Samba AD DC) and directory-embedded.test.ts (demo directory).
 *
 * Wrong passwords used here, per account and run (AD lockout threshold 5, see tests/helpers/samba.ts):
 * normal 1, disabled 1, locked 1 (already locked). Unknown and injected names never reach an account.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Filter } from 'ldapts';
import { sidToString } from '../../server/directory/guid.ts';
import type {
  AuthResult,
  DirectoryOperation,
  DirectoryProvider,
} from '../../server/directory/types.ts';

export interface ContractAccount {
  sAMAccountName: string;
  password: string;
  upn: string;
}

export interface DirectoryContractFixture {
  netbiosDomain: string;
  accounts: {
    /** Enabled, with displayName, mail, objectSid and direct groups `normalGroups`. */
    normal: ContractAccount;
    second: ContractAccount;
    disabled: ContractAccount;
    mustChange: ContractAccount;
    passwordExpired: ContractAccount;
    accountExpired: ContractAccount;
    /** Locked out for the whole run. */
    locked: ContractAccount;
    /** Has mS-DS-ConsistencyGuid `consistencyGuid`. */
    consistency: ContractAccount;
  };
  normal: {
    groups: string[];
    displayName: string;
    mail: string;
    /** Groups the normal account is in through nesting or as its primary group (tokenGroups; ⊆ of all). */
    nestedGroups: string[];
  };
  consistencyGuid: Buffer;
  /** A fresh provider reporting its operations to `onOperation`. */
  open(onOperation: (op: DirectoryOperation) => void): Promise<DirectoryProvider>;
  /** objectGUID read without the provider (LDAP: the ldapsearch CLI). */
  independentObjectGuid?: ((sAMAccountName: string) => Buffer) | undefined;
}

function failure(result: AuthResult): { kind: string; reason: string } {
  assert.equal(result.ok, false, 'expected a failed sign-in');
  return { kind: result.kind, reason: result.reason };
}

export function directoryContract(name: string, fx: DirectoryContractFixture): void {
  const {
    normal,
    second,
    disabled,
    mustChange,
    passwordExpired,
    accountExpired,
    locked,
    consistency,
  } = fx.accounts;

  describe(`DirectoryProvider contract: ${name}`, () => {
    let dir: DirectoryProvider;
    const ops: DirectoryOperation[] = [];
    before(async () => {
      dir = await fx.open((op) => ops.push(op));
    });
    after(() => dir.close());

    it('healthCheck reports healthy', async () => {
      const health = await dir.healthCheck();
      assert.equal(health.ok, true, JSON.stringify(health));
      assert.ok(health.servers.length > 0 && health.servers.every((s) => s.ok));
    });

    it('signs in with sAMAccountName, DOMAIN\\name and UPN, all resolving to the same user', async () => {
      const names = [
        normal.sAMAccountName,
        `${fx.netbiosDomain}\\${normal.sAMAccountName}`,
        normal.upn,
      ];
      const guids = new Set<string>();
      for (const n of names) {
        const r = await dir.authenticate(n, normal.password);
        assert.ok(r.ok, `${n}: ${JSON.stringify(r)}`);
        assert.equal(r.user.sAMAccountName, normal.sAMAccountName);
        assert.equal(r.user.windowsAccountName, `${fx.netbiosDomain}\\${normal.sAMAccountName}`);
        assert.equal(r.user.netbiosDomain, fx.netbiosDomain);
        assert.equal(r.user.userPrincipalName?.toLowerCase(), normal.upn.toLowerCase());
        guids.add(r.user.objectGuid.toString('hex'));
      }
      assert.equal(guids.size, 1);
    });

    it('matches names case-insensitively (passwords stay case-sensitive)', async () => {
      const upper = normal.sAMAccountName.toUpperCase();
      for (const n of [
        upper,
        `${fx.netbiosDomain.toLowerCase()}\\${upper}`,
        normal.upn.toUpperCase(),
      ]) {
        const r = await dir.authenticate(n, normal.password);
        assert.ok(r.ok, `${n}: ${JSON.stringify(r)}`);
        assert.equal(
          r.user.sAMAccountName,
          normal.sAMAccountName,
          'the directory spelling is returned',
        );
      }
    });

    it('returns the AD attributes of the user', async () => {
      const r = await dir.authenticate(normal.sAMAccountName, normal.password);
      assert.ok(r.ok);
      const u = r.user;
      assert.equal(u.objectGuid.length, 16);
      assert.equal(u.consistencyGuid, undefined);
      assert.equal(u.immutableId, u.objectGuid.toString('base64'));
      assert.match(u.objectSid ?? '', /^S-1-5-21-\d+-\d+-\d+-\d+$/);
      assert.equal(u.displayName, fx.normal.displayName);
      assert.equal(u.mail, fx.normal.mail);
      assert.deepEqual([...u.groups].sort(), [...fx.normal.groups].sort(), 'direct group CNs');
      assert.equal(u.enabled, true);
      assert.ok(u.dn.length > 0);
    });

    it('immutableId is base64 of objectGUID, read independently where possible', async (t) => {
      const user = await dir.findUser(second.sAMAccountName);
      assert.ok(user);
      assert.equal(user.immutableId, user.objectGuid.toString('base64'));
      if (fx.independentObjectGuid === undefined) {
        t.diagnostic('no independent reader for this provider');
        return;
      }
      for (const acct of [normal, second]) {
        const u = await dir.findUser(acct.sAMAccountName);
        assert.equal(
          u?.immutableId,
          fx.independentObjectGuid(acct.sAMAccountName).toString('base64'),
        );
      }
    });

    it('mS-DS-ConsistencyGuid, when set, is the immutableId', async () => {
      const r = await dir.authenticate(consistency.sAMAccountName, consistency.password);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.user.consistencyGuid, fx.consistencyGuid);
      assert.equal(r.user.immutableId, fx.consistencyGuid.toString('base64'));
      assert.notEqual(r.user.immutableId, r.user.objectGuid.toString('base64'));
    });

    it('a wrong password and an unknown user fail the same way', async () => {
      const wrong = failure(await dir.authenticate(normal.sAMAccountName, `${normal.password}x`));
      const unknown = failure(
        await dir.authenticate(`nosuch${randomBytes(4).toString('hex')}`, normal.password),
      );
      const unknownUpn = failure(
        await dir.authenticate(`nosuch@${normal.upn.split('@')[1] ?? ''}`, normal.password),
      );
      assert.equal(wrong.kind, 'bad_credentials');
      assert.equal(unknown.kind, 'bad_credentials');
      assert.equal(unknownUpn.kind, 'bad_credentials');
      // The right password afterwards still works (and resets AD's badPwdCount).
      assert.ok((await dir.authenticate(normal.sAMAccountName, normal.password)).ok);
    });

    it('disabled: right password → disabled, wrong password → bad_credentials (as AD answers)', async () => {
      const right = await dir.authenticate(disabled.sAMAccountName, disabled.password);
      assert.equal(failure(right).kind, 'disabled');
      assert.equal(
        right.ok ? undefined : right.user?.sAMAccountName,
        disabled.sAMAccountName,
        'entry attached',
      );
      assert.equal(
        failure(await dir.authenticate(disabled.sAMAccountName, `${disabled.password}x`)).kind,
        'bad_credentials',
      );
      const found = await dir.findUser(disabled.sAMAccountName);
      assert.equal(found?.enabled, false, 'disabled users stay findable, marked disabled');
    });

    it('must change password, password expired and account expired are reported after the right password', async () => {
      assert.equal(
        failure(await dir.authenticate(mustChange.sAMAccountName, mustChange.password)).kind,
        'must_change_password',
      );
      assert.equal(
        failure(await dir.authenticate(passwordExpired.sAMAccountName, passwordExpired.password))
          .kind,
        'password_expired',
      );
      assert.equal(
        failure(await dir.authenticate(accountExpired.sAMAccountName, accountExpired.password))
          .kind,
        'account_expired',
      );
    });

    it('a locked-out account is refused with the right and with a wrong password', async () => {
      assert.equal(
        failure(await dir.authenticate(locked.sAMAccountName, locked.password)).kind,
        'locked',
      );
      assert.equal(
        failure(await dir.authenticate(locked.upn, `${locked.password}x`)).kind,
        'locked',
      );
    });

    it('empty or whitespace-only passwords are refused with no directory traffic (C4.5)', async () => {
      for (const pw of ['', ' ', '   ', '\t\r\n', '\u00a0', '\u3000']) {
        ops.length = 0;
        const f = failure(await dir.authenticate(normal.sAMAccountName, pw));
        assert.deepEqual(
          f,
          { kind: 'bad_credentials', reason: 'empty_password' },
          JSON.stringify(pw),
        );
        assert.deepEqual(ops, [], `no directory operation for ${JSON.stringify(pw)}`);
      }
    });

    it('malformed names are refused before any directory traffic (C4.3)', async () => {
      const sam = normal.sAMAccountName;
      for (const n of [
        '',
        ` ${sam}`,
        `${sam} `,
        `${sam}\t`,
        `${sam}\u0000`,
        `${sam}\n`,
        'a\\b\\c',
        'a\\b@c',
        '\\x',
        'x\\',
        '@x',
        'x@',
        'a@b@c',
        'x'.repeat(257),
      ]) {
        ops.length = 0;
        const f = failure(await dir.authenticate(n, normal.password));
        assert.deepEqual(f, { kind: 'bad_credentials', reason: 'invalid_name' }, JSON.stringify(n));
        assert.deepEqual(ops, [], JSON.stringify(n));
        assert.equal(await dir.findUser(n), undefined);
      }
    });

    it('another NetBIOS domain never matches', async () => {
      ops.length = 0;
      const f = failure(await dir.authenticate(`OTHER\\${normal.sAMAccountName}`, normal.password));
      assert.equal(f.kind, 'bad_credentials');
      assert.deepEqual(ops, []);
      assert.equal(await dir.findUser(`OTHER\\${normal.sAMAccountName}`), undefined);
    });

    it('LDAP filter injection never matches, even with a real password (C4.1)', async () => {
      const sam = normal.sAMAccountName;
      const attacks = [
        '*',
        'adm*',
        `${sam.slice(0, 2)}*`,
        '*)(objectClass=*',
        `${sam})(|(sAMAccountName=*`,
        `${sam}\u0000`,
        `${sam})(userAccountControl:1.2.840.113556.1.4.803:=2`,
        `${sam})`,
        `(${sam}`,
        `${sam}\\2a`,
        `*@${normal.upn.split('@')[1] ?? ''}`,
        `${fx.netbiosDomain}\\*`,
        `${fx.netbiosDomain}\\${sam})(cn=*`,
      ];
      for (const n of attacks) {
        const r = await dir.authenticate(n, normal.password);
        assert.equal(failure(r).kind, 'bad_credentials', JSON.stringify(n));
        assert.equal(r.ok ? undefined : r.user, undefined, `${JSON.stringify(n)} matched an entry`);
        assert.equal(await dir.findUser(n), undefined, JSON.stringify(n));
      }
    });

    it('findUser accepts the three name forms; unknown names give undefined', async () => {
      const byName = await dir.findUser(normal.sAMAccountName);
      assert.ok(byName);
      for (const n of [`${fx.netbiosDomain}\\${normal.sAMAccountName}`, normal.upn.toUpperCase()]) {
        const u = await dir.findUser(n);
        assert.deepEqual(u?.objectGuid, byName.objectGuid, n);
      }
      assert.equal(await dir.findUser(`nosuch${randomBytes(4).toString('hex')}`), undefined);
    });

    describe('queryAttributes (claim rules)', () => {
      const account = (a: ContractAccount): string => `${fx.netbiosDomain}\\${a.sAMAccountName}`;

      it('reads the account named DOMAIN\\name: binary attributes as bytes, names case-insensitive', async () => {
        const user = await dir.findUser(normal.sAMAccountName);
        assert.ok(user);
        const rows = await dir.queryAttributes({
          account: account(normal),
          attributes: [
            'objectguid',
            'userPrincipalName',
            'objectSid',
            'mS-DS-ConsistencyGuid',
            'displayName',
            'distinguishedName',
          ],
        });
        assert.equal(rows.length, 1);
        const row = rows[0]!;
        assert.deepEqual(row.objectguid, [user.objectGuid]);
        assert.equal(String(row.userPrincipalName?.[0]).toLowerCase(), normal.upn.toLowerCase());
        const sid = row.objectSid?.[0];
        assert.ok(Buffer.isBuffer(sid));
        assert.equal(sidToString(sid), user.objectSid);
        assert.deepEqual(row['mS-DS-ConsistencyGuid'], []);
        assert.deepEqual(row.displayName, [fx.normal.displayName]);
        assert.deepEqual(row.distinguishedName, [user.dn]);
      });

      it('returns mS-DS-ConsistencyGuid as its 16 bytes when set', async () => {
        const [row] = await dir.queryAttributes({
          account: account(consistency),
          attributes: ['mS-DS-ConsistencyGuid'],
        });
        assert.deepEqual(row?.['mS-DS-ConsistencyGuid'], [fx.consistencyGuid]);
      });

      it('tokenGroups holds every group SID, nested and primary groups included', async () => {
        const [row] = await dir.queryAttributes({
          account: account(normal),
          attributes: ['tokenGroups'],
        });
        const sids = (row?.tokenGroups ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));
        assert.ok(sids.length >= fx.normal.nestedGroups.length);
        const groups = await dir.queryAttributes({
          account: account(normal),
          filter: `(|${sids.map((b) => `(objectSid=${Filter.escape(b)})`).join('')})`,
          attributes: ['sAMAccountName'],
        });
        const names = groups.map((g) => String(g.sAMAccountName?.[0]));
        for (const g of [...fx.normal.groups, ...fx.normal.nestedGroups])
          assert.ok(names.includes(g), `${g} in ${names.join(', ')}`);
      });

      it("a filter searches the domain; an escaped value never widens it, the admin's own wildcard does", async () => {
        const sam = normal.sAMAccountName;
        const exact = await dir.queryAttributes({
          account: account(normal),
          filter: `sAMAccountName=${Filter.escape(sam.toUpperCase())}`,
          attributes: ['sAMAccountName'],
        });
        assert.deepEqual(exact, [{ sAMAccountName: [sam] }]);
        for (const hostile of [`${sam.slice(0, 2)}*`, '*', `${sam})(|(sAMAccountName=*`]) {
          const rows = await dir.queryAttributes({
            account: account(normal),
            filter: `(&(objectClass=user)(sAMAccountName=${Filter.escape(hostile)}))`,
            attributes: ['sAMAccountName'],
          });
          assert.deepEqual(rows, [], hostile);
        }
        const wildcard = await dir.queryAttributes({
          account: account(normal),
          filter: `(sAMAccountName=${sam.slice(0, 2)}*)`,
          attributes: ['sAMAccountName'],
        });
        assert.ok(wildcard.some((r) => r.sAMAccountName?.[0] === sam));
        const user = await dir.findUser(sam);
        const chain = await dir.queryAttributes({
          account: account(normal),
          filter: `(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=${Filter.escape(user?.dn ?? '')}))`,
          attributes: ['cn'],
        });
        const cns = chain.map((r) => String(r.cn?.[0]));
        for (const g of fx.normal.groups) assert.ok(cns.includes(g), `${g} by in-chain membership`);
      });

      it('an unknown account gives no rows; another domain, a malformed account or filter is an error', async () => {
        assert.deepEqual(
          await dir.queryAttributes({
            account: `${fx.netbiosDomain}\\nosuch${randomBytes(4).toString('hex')}`,
            attributes: ['cn'],
          }),
          [],
        );
        await assert.rejects(
          dir.queryAttributes({ account: `OTHER\\${normal.sAMAccountName}`, attributes: ['cn'] }),
          /domain/,
        );
        await assert.rejects(
          dir.queryAttributes({ account: normal.upn, attributes: ['cn'] }),
          /DOMAIN\\name/,
        );
        await assert.rejects(
          dir.queryAttributes({ account: account(normal), filter: '(cn=a', attributes: ['cn'] }),
          /LDAP filter/,
        );
      });
    });

    it('findByObjectGuid finds by raw GUID bytes only', async () => {
      const user = await dir.findUser(second.sAMAccountName);
      assert.ok(user);
      const again = await dir.findByObjectGuid(Buffer.from(user.objectGuid));
      assert.equal(again?.sAMAccountName, second.sAMAccountName);
      assert.equal(again.immutableId, user.immutableId);
      assert.equal(await dir.findByObjectGuid(randomBytes(16)), undefined);
      assert.equal(await dir.findByObjectGuid(user.objectGuid.subarray(0, 15)), undefined);
      // Bytes that are filter syntax when unescaped: `*` (0x2a), `(`, `)`, `\`, NUL.
      assert.equal(
        await dir.findByObjectGuid(Buffer.from('2a28295c00000000000000000000002a', 'hex')),
        undefined,
      );
    });

    it('findByCertificate: every account the SID, an altSecurityIdentities value or a UPN names, with its logon state', async () => {
      const user = await dir.findUser(normal.sAMAccountName);
      assert.ok(user?.objectSid !== undefined);
      const found = await dir.findByCertificate({
        sid: user.objectSid,
        altSecurityIdentities: ['X509:<SKI>00112233'],
        upns: [second.upn.toUpperCase()],
      });
      assert.deepEqual(
        found.map((a) => a.user.sAMAccountName).sort(),
        [normal.sAMAccountName, second.sAMAccountName].sort(),
      );
      for (const a of found) {
        assert.deepEqual(a.state, { disabled: false, locked: false, expired: false });
        assert.ok(Array.isArray(a.altSecurityIdentities));
      }
      const states = await dir.findByCertificate({
        altSecurityIdentities: [],
        upns: [disabled.upn, locked.upn, accountExpired.upn],
      });
      const by = (sam: string) => states.find((a) => a.user.sAMAccountName === sam)?.state;
      assert.deepEqual(by(disabled.sAMAccountName), {
        disabled: true,
        locked: false,
        expired: false,
      });
      assert.equal(by(locked.sAMAccountName)?.locked, true);
      assert.equal(by(accountExpired.sAMAccountName)?.expired, true);
      // Values are matched exactly, never as filter syntax.
      assert.deepEqual(
        await dir.findByCertificate({
          altSecurityIdentities: ['*'],
          upns: ['*', `*)(sAMAccountName=*`],
        }),
        [],
      );
      assert.deepEqual(await dir.findByCertificate({ altSecurityIdentities: [], upns: [] }), []);
    });
  });
}
