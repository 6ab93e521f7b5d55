// The "Active Directory" store (query parsing, escaping of claim values into filters, value formats, group name
// forms) against a recording directory and the embedded demo directory, and _PasswordExpiryStore.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import {
  ActiveDirectoryStore,
  checkAdQuery,
  parseAdQuery,
} from '../../../server/claims/ad-store.ts';
import { formatQuery } from '../../../server/claims/attribute-store.ts';
import {
  parseExpiryTime,
  PasswordExpiryStore,
} from '../../../server/claims/password-expiry-store.ts';
import { parseLdapFilter } from '../../../server/directory/ldap-filter.ts';
import { createDirectory } from '../../../server/directory/index.ts';
import type {
  AttributeQuery,
  AttributeValues,
  DirectoryProvider,
} from '../../../server/directory/types.ts';
import { FixedClock } from '../../../server/lib/clock.ts';

/** Records queries; answers with fixed rows. */
function recordingDirectory(rows: AttributeValues[] = []): {
  dir: DirectoryProvider;
  queries: AttributeQuery[];
} {
  const queries: AttributeQuery[] = [];
  const dir = {
    queryAttributes(q: AttributeQuery) {
      queries.push(q);
      return Promise.resolve(rows);
    },
  } as unknown as DirectoryProvider;
  return { dir, queries };
}

describe('Active Directory store queries', () => {
  test('three parts split at the last two semicolons; attributes trimmed; group options', () => {
    assert.deepEqual(parseAdQuery('; objectGuid,ms-ds-consistencyguid;{0}'), {
      filter: '',
      attributes: [
        { ldap: 'objectGuid', form: 'value' },
        { ldap: 'ms-ds-consistencyguid', form: 'value' },
      ],
      account: '{0}',
    });
    const q = parseAdQuery(
      '(description=a;b);tokenGroups,tokenGroups(SID),tokenGroups(domainQualifiedName),tokenGroups(longDomainQualifiedName);{1}',
    );
    assert.equal(q.filter, '(description=a;b)');
    assert.deepEqual(
      q.attributes.map((a) => a.form),
      ['name', 'sid', 'domainName', 'longDomainName'],
    );
    for (const bad of ['mail;{0}', ';mail;', ';mail(SID);{0}', ';tokenGroups(x);{0}', ';a b;{0}'])
      assert.throws(() => parseAdQuery(bad), Error, bad);
    assert.equal(checkAdQuery('samAccountName={0};userPrincipalName;{1}', 2), 1);
    assert.throws(() => checkAdQuery('samAccountName={0};userPrincipalName;{1}', 1), /\{1\}/);
  });

  test('String.Format placeholders: {{ }} literal braces, specifiers refused', () => {
    assert.equal(formatQuery('{{x}}{0}{1}', ['a', 'b']), '{x}ab');
    assert.throws(() => formatQuery('{0:x}', ['a']), /malformed placeholder/);
    assert.throws(() => formatQuery('{2}', ['a']), /no matching param/);
    assert.throws(() => formatQuery('a}', []), /unmatched/);
  });

  test('claim values are RFC 4515-escaped in the filter and cannot add filter syntax', async () => {
    const { dir, queries } = recordingDirectory();
    const store = new ActiveDirectoryStore(dir);
    const hostile = ['*', 'j*)(|(sAMAccountName=*', 'a\\2a', 'x\u0000', 'a)(objectClass=*'];
    for (const v of hostile) {
      await store.query('(&(objectClass=user)(userPrincipalName={0}));mail;{1}', [v, 'CORP\\jdoe']);
      const filter = queries.at(-1)?.filter ?? '';
      const node = parseLdapFilter(filter);
      assert.ok(node.op === 'and' && node.children.length === 2, `${v}: structure unchanged`);
      const upn = node.children[1];
      assert.ok(upn?.op === 'equal', `${v}: still an equality match, never a wildcard`);
      assert.equal(upn.value.toString('utf8'), v);
    }
    // The account part is not a filter: it is passed as is, and a ";" in a param cannot move a part.
    await store.query('samAccountName={0};mail;{1}', ['a;objectGUID;CORP\\admin', 'CORP\\jdoe']);
    assert.deepEqual(queries.at(-1), {
      account: 'CORP\\jdoe',
      filter: 'samAccountName=a;objectGUID;CORP\\5cadmin',
      attributes: ['mail'],
    });
  });

  test('binary attributes come out base64, SIDs as strings, text as is', async () => {
    const guid = Buffer.from('0011223344556677889900aabbccddee', 'hex');
    // jdoe's objectSid as ldapsearch printed it from the test DC (revision 1, 5 sub-authorities, little-endian).
    const sid = Buffer.from('AQUAAAAAAAUVAAAA1QES7Zx5ZSN1G3gMTwQAAA==', 'base64');
    const { dir } = recordingDirectory([
      { objectGUID: [guid], objectSid: [sid], mail: ['a@b'], 'mS-DS-ConsistencyGuid': [] },
    ]);
    const cols = await new ActiveDirectoryStore(dir).query(
      ';objectGUID,objectSid,mail,mS-DS-ConsistencyGuid;{0}',
      ['CORP\\a'],
    );
    assert.deepEqual(cols, [
      [guid.toString('base64')],
      ['S-1-5-21-3977380309-593852828-209197941-1103'],
      ['a@b'],
      [],
    ]);
  });

  test('group forms on the embedded demo directory: names, SIDs, DOMAIN\\name, dns\\name (nested included)', async () => {
    const dir = await createDirectory(
      { kind: 'embedded', netbiosDomain: 'FEDGATE' },
      { logger: pino({ level: 'silent' }), clock: new FixedClock(), baseDir: '.' },
    );
    const store = new ActiveDirectoryStore(dir);
    const [names, sids, qualified, long, memberOf] = await store.query(
      ';tokenGroups,tokenGroups(SID),tokenGroups(domainQualifiedName),tokenGroups(longDomainQualifiedName),memberOf;{0}',
      ['FEDGATE\\bob'],
    );
    // bob has no direct groups: only his primary group.
    assert.deepEqual(names, ['Domain Users']);
    assert.deepEqual(sids, ['S-1-5-21-3623811015-3361044348-30300820-513']);
    assert.deepEqual(qualified, ['FEDGATE\\Domain Users']);
    assert.deepEqual(long, ['fedgate.test\\Domain Users']);
    assert.deepEqual(memberOf, []);
    const [alice] = await store.query(';tokenGroups;{0}', ['FEDGATE\\alice']);
    assert.deepEqual([...(alice ?? [])].sort(), ['Domain Users', 'Finance', 'Staff']);
    // A filter query over the domain: nested membership through LDAP_MATCHING_RULE_IN_CHAIN.
    const [groups] = await store.query(
      '(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={1}));cn;{0}',
      ['FEDGATE\\alice', 'CN=alice,CN=Users,DC=fedgate,DC=test'],
    );
    assert.deepEqual([...(groups ?? [])].sort(), ['Finance', 'Staff']);
    // An escaped wildcard matches nothing; the same text unescaped would match every account.
    assert.deepEqual(await store.query('sAMAccountName={0};cn;{1}', ['*', 'FEDGATE\\alice']), [[]]);
    await dir.close();
  });
});

describe('_PasswordExpiryStore', () => {
  const now = new Date('2025-03-01T12:00:00Z');
  const store = new PasswordExpiryStore({
    clock: new FixedClock(now),
    changeUrl: 'https://sts.example/adfs/portal/updatepassword/',
  });

  test('passes the time through and computes days left and the change URL', async () => {
    const expires = new Date('2025-03-05T08:00:00Z');
    const filetime = String(BigInt(expires.getTime()) * 10_000n + 116_444_736_000_000_000n);
    assert.deepEqual(await store.query('{0};', [filetime]), [
      [filetime],
      ['4'],
      ['https://sts.example/adfs/portal/updatepassword/'],
    ]);
    assert.deepEqual((await store.query('{0};', ['2025-03-02T11:00:00Z']))[1], ['1']);
    assert.deepEqual((await store.query('{0};', ['2025-02-01T00:00:00Z']))[1], ['0']);
  });

  test('"never expires" and unreadable input yield no claims; no change URL configured → none', async () => {
    for (const v of ['0', '9223372036854775807', 'soon', ''])
      assert.deepEqual(await store.query('{0};', [v]), [[], [], []], v);
    const bare = new PasswordExpiryStore({ clock: new FixedClock(now) });
    assert.deepEqual((await bare.query('{0};', ['2025-03-02T12:00:00Z']))[2], []);
    assert.equal(
      parseExpiryTime('2025-03-02T12:00:00Z')?.toISOString(),
      '2025-03-02T12:00:00.000Z',
    );
  });

  test('only the query "{0};" with a param is accepted', () => {
    assert.equal(store.check('{0};', 1), 3);
    assert.throws(() => store.check(';x;{0}', 1), /"\{0\};"/);
    assert.throws(() => store.check('{0};', 0), /param/);
  });
});
