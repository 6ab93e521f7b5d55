// RFC 4515 filters as claim rules write them: parsed with values kept as bytes (ldapts' own string parser turns
// escaped bytes ≥ 0x80 into different UTF-8 bytes), and evaluated in memory for the embedded directory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EqualityFilter, Filter } from 'ldapts';
import {
  matchesFilter,
  parseLdapFilter,
  toLdapts,
  type EntryValues,
  type MatchContext,
} from '../../../server/directory/ldap-filter.ts';

test('escaped bytes stay bytes: a SID filter reaches the DC unchanged', () => {
  const sid = Buffer.from('AQUAAAAAAAUVAAAA1QES7Zx5ZSN1G3gMTwQAAA==', 'base64');
  const f = toLdapts(parseLdapFilter(`(objectSid=${Filter.escape(sid)})`));
  assert.ok(f instanceof EqualityFilter);
  assert.deepEqual(f.value, sid);
  const accented = toLdapts(parseLdapFilter('(cn=J\\c3\\bcrgen)'));
  assert.ok(accented instanceof EqualityFilter);
  assert.equal((accented.value as Buffer).toString('utf8'), 'Jürgen');
});

test('bare items get parentheses; structure and values parse', () => {
  assert.deepEqual(parseLdapFilter('samAccountName=jdoe'), {
    op: 'equal',
    attribute: 'samAccountName',
    value: Buffer.from('jdoe'),
  });
  const n = parseLdapFilter(
    '(&(objectClass=group)(!(cn=a*b*))(member:1.2.840.113556.1.4.1941:=CN=x\\2c y,DC=z)(|))',
  );
  assert.ok(n.op === 'and');
  assert.deepEqual(
    n.children.map((c) => c.op),
    ['equal', 'not', 'extensible', 'or'],
  );
  assert.equal(parseLdapFilter('(cn=*)').op, 'present');
  assert.equal(parseLdapFilter('(cn>=m)').op, 'ge');
});

test('malformed filters are refused with their position', () => {
  const cases: [string, RegExp][] = [
    ['(cn=a', /unterminated value/],
    ['(cn=a)(x=y)', /text after the filter/],
    ['(cn=(a)', /unescaped "\("/],
    ['(=a)', /attribute name/],
    ['(cn=\\zz)', /two hex digits/],
    ['(cn=a**b)', /"\*\*"/],
    ['(cn:x)', /:=/],
    ['', /empty/],
  ];
  for (const [f, re] of cases) assert.throws(() => parseLdapFilter(f), re, f);
});

test('in-memory evaluation: case-insensitive text, bytes for binary values, substrings, bit and in-chain rules', () => {
  const entry: EntryValues = new Map<string, (string | Buffer)[]>([
    ['cn', ['John Doe']],
    ['objectguid', [Buffer.from([0x2a, 0x28])]],
    ['useraccountcontrol', ['514']],
    ['memberof', ['CN=Finance,DC=x']],
  ]);
  const groups = new Map<string, string[]>([['cn=finance,dc=x', ['CN=Staff,DC=x']]]);
  const ctx: MatchContext = {
    values: (e, a) => e.get(a) ?? [],
    inChain: (e, a, target) => {
      const todo = [...(e.get(a) ?? [])].map(String);
      for (let dn = todo.pop(); dn !== undefined; dn = todo.pop()) {
        if (dn.toLowerCase() === target.toLowerCase()) return true;
        todo.push(...(groups.get(dn.toLowerCase()) ?? []));
      }
      return false;
    },
  };
  const m = (f: string): boolean => matchesFilter(parseLdapFilter(f), entry, ctx);
  assert.equal(m('(cn=john doe)'), true);
  assert.equal(m('(cn=jo*oe)'), true);
  assert.equal(m('(cn=jo\\2a)'), false, 'an escaped * is a literal');
  assert.equal(m('(objectGUID=\\2a\\28)'), true);
  assert.equal(m('(objectGUID=*()'.replace('*(', '\\2A\\29')), false);
  assert.equal(m('(userAccountControl:1.2.840.113556.1.4.803:=2)'), true);
  assert.equal(m('(memberOf:1.2.840.113556.1.4.1941:=CN=Staff,DC=x)'), true);
  assert.equal(m('(memberOf=CN=Staff,DC=x)'), false, 'memberOf alone is direct membership');
  assert.equal(m('(&(cn=*)(!(mail=*)))'), true);
  assert.throws(() => m('(cn:1.2.3:=x)'), /not supported/);
});
