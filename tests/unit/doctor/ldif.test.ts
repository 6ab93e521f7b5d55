// `fedgate doctor --fix-ldif`: the fix and undo LDIF (RFC 2849 change records). An independent reader checks what
// fedgate writes: OpenLDAP's `ldapmodify -n -v -f FILE` parses the file without a server (-n: show what would be
// done) and prints every operation with its values, which the tests compare with what the findings propose. Exact
// text for one simple case; base64 for non-ASCII and other unsafe values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { analyse, type DirectoryObject } from '../../../server/doctor/analyse.ts';
import { fixLdif } from '../../../server/doctor/ldif.ts';
import type { DirectoryFinding, FindingClass } from '../../../server/doctor/types.ts';

const OU = 'OU=doctor-unit,DC=corp,DC=example,DC=test';
const dir = mkdtempSync(join(tmpdir(), 'fedgate-ldif-'));
let fileNo = 0;

interface Operation {
  dn: string;
  op: string;
  attribute: string;
  values: string[];
}

/** Runs OpenLDAP's dry run on `text`; it must parse the whole file. Returns its printout. */
function ldapmodifyAccepts(text: string): string {
  const file = join(dir, `f${++fileNo}.ldif`);
  writeFileSync(file, text);
  const r = spawnSync('ldapmodify', ['-n', '-v', '-f', file], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error; // ldapmodify missing: fail loudly
  assert.equal(r.status, 0, `ldapmodify refused the file:\n${r.stderr}\n${text}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/**
 * What OpenLDAP's ldapmodify reads from `text`, as the operations it would send. Its dry run prints, per entry,
 * `<op> <attribute>:` lines each followed by tab-indented values, then `!modifying entry "<dn>"`. Non-ASCII values
 * it shows as `NOT ASCII (n bytes)`. A parse error makes it exit non-zero: the test fails there.
 */
function ldapmodifyReads(text: string): Operation[] {
  const out: Operation[] = [];
  let pending: Omit<Operation, 'dn'>[] = [];
  for (const line of ldapmodifyAccepts(text).split('\n')) {
    const entry = /^!modifying entry "(.*)"$/u.exec(line);
    const op = /^(add|delete|replace) ([^:]+):$/u.exec(line);
    if (entry !== null) {
      for (const p of pending) out.push({ dn: entry[1] ?? '', ...p });
      pending = [];
    } else if (op !== null) pending.push({ op: op[1] ?? '', attribute: op[2] ?? '', values: [] });
    else if (line.startsWith('\t')) pending.at(-1)?.values.push(line.slice(1));
    else assert.equal(line, '', `unexpected ldapmodify output: ${line}`);
  }
  assert.deepEqual(pending, []);
  return out;
}

function finding(
  dn: string,
  attribute: string,
  cls: FindingClass,
  value: string,
  update: string | undefined,
): DirectoryFinding {
  return {
    dn,
    commonName: dn.slice(3, dn.indexOf(',')),
    objectClass: 'user',
    container: OU,
    attribute,
    class: cls,
    severity: 'error',
    value,
    update,
    multiValued: attribute === 'proxyAddresses',
    detail: 'test',
  };
}

const SPACE1 = `CN=space1,${OU}`;

describe('exact text', () => {
  test('one single-valued fix: delete the scanned value and add the new one (refused if it changed since); the undo the reverse', () => {
    const r = fixLdif([
      finding(
        SPACE1,
        'userPrincipalName',
        'character',
        'john smith@contoso.com',
        'johnsmith@contoso.com',
      ),
    ]);
    const body = (text: string) => text.slice(text.indexOf('version: 1'));
    assert.equal(
      body(r.fix),
      [
        'version: 1',
        '',
        `dn: ${SPACE1}`,
        'changetype: modify',
        'delete: userPrincipalName',
        'userPrincipalName: john smith@contoso.com',
        '-',
        'add: userPrincipalName',
        'userPrincipalName: johnsmith@contoso.com',
        '-',
        '',
      ].join('\n'),
    );
    assert.equal(
      body(r.undo),
      [
        'version: 1',
        '',
        `dn: ${SPACE1}`,
        'changetype: modify',
        'delete: userPrincipalName',
        'userPrincipalName: johnsmith@contoso.com',
        '-',
        'add: userPrincipalName',
        'userPrincipalName: john smith@contoso.com',
        '-',
        '',
      ].join('\n'),
    );
    assert.equal(r.entries, 1);
    assert.equal(r.changes, 1);
    // The header says what the file is, that fedgate did not apply it, and how to.
    const header = r.fix.slice(0, r.fix.indexOf('version: 1'));
    assert.ok(header.split('\n').every((l) => l === '' || l.startsWith('#')));
    assert.match(header, /never applied/u);
    assert.match(header, /ldapmodify .*-f/u);
    assert.match(r.undo, /^# .*undo/u);
    const UPN = 'userPrincipalName';
    assert.deepEqual(ldapmodifyReads(r.fix), [
      { dn: SPACE1, op: 'delete', attribute: UPN, values: ['john smith@contoso.com'] },
      { dn: SPACE1, op: 'add', attribute: UPN, values: ['johnsmith@contoso.com'] },
    ]);
    assert.deepEqual(ldapmodifyReads(r.undo), [
      { dn: SPACE1, op: 'delete', attribute: UPN, values: ['johnsmith@contoso.com'] },
      { dn: SPACE1, op: 'add', attribute: UPN, values: ['john smith@contoso.com'] },
    ]);
  });
});

describe('base64 for what is not an RFC 2849 SAFE-STRING', () => {
  test('a non-ASCII value and DN are written attr:: / dn:: base64, and read back by ldapmodify', () => {
    const dn = `CN=Jürgen Müller,${OU}`;
    const r = fixLdif([
      finding(dn, 'userPrincipalName', 'character', 'jürgen@contoso.com', 'jurgen@contoso.com'),
    ]);
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    assert.ok(r.fix.includes(`\ndn:: ${b64(dn)}\n`));
    assert.ok(r.fix.includes('\nuserPrincipalName: jurgen@contoso.com\n'));
    assert.ok(r.undo.includes(`\nuserPrincipalName:: ${b64('jürgen@contoso.com')}\n`));
    assert.ok(
      !/[^\x20-\x7e\n]/u.test(r.fix.slice(r.fix.indexOf('version: 1'))),
      'the records are ASCII',
    );
    assert.deepEqual(ldapmodifyReads(r.undo), [
      // ldapmodify decoded the base64 DN back to the UTF-8 text
      { dn, op: 'delete', attribute: 'userPrincipalName', values: ['jurgen@contoso.com'] },
      {
        dn,
        op: 'add',
        attribute: 'userPrincipalName',
        values: [`NOT ASCII (${Buffer.byteLength('jürgen@contoso.com')} bytes)`],
      },
    ]);
  });
  test('leading space, colon or <, trailing space, line breaks, NUL: base64; ldapmodify reads the same bytes', () => {
    const unsafe = [' lead', ':colon', '<angle', 'trail ', 'two\nlines', 'cr\rhere', 'nul\u0000x'];
    for (const value of unsafe) {
      const r = fixLdif([finding(SPACE1, 'displayName', 'character', value, 'safe')]);
      const line = r.undo.split('\n').find((l) => l.startsWith('displayName::'));
      assert.equal(
        line,
        `displayName:: ${Buffer.from(value).toString('base64')}`,
        JSON.stringify(value),
      );
      if (!['\n', '\r', String.fromCharCode(0)].some((c) => value.includes(c))) {
        const op = ldapmodifyReads(r.undo).find((o) => o.op === 'add');
        assert.deepEqual(op?.values, [value]);
      } else ldapmodifyAccepts(r.undo); // parses; the printout cannot show such a value unambiguously
    }
    // Safe values are written as they are, inner spaces and colons included.
    const r = fixLdif([finding(SPACE1, 'displayName', 'length', 'a: b c', 'a: b')]);
    assert.ok(r.undo.includes('\ndisplayName: a: b c\n'));
  });
});

describe('operations', () => {
  test('proxyAddresses: delete the old value and add the new one (other values stay); undo the reverse', () => {
    const r = fixLdif([
      finding(SPACE1, 'proxyAddresses', 'character', 'smtp:a b@contoso.com', 'smtp:ab@contoso.com'),
    ]);
    assert.deepEqual(ldapmodifyReads(r.fix), [
      { dn: SPACE1, op: 'delete', attribute: 'proxyAddresses', values: ['smtp:a b@contoso.com'] },
      { dn: SPACE1, op: 'add', attribute: 'proxyAddresses', values: ['smtp:ab@contoso.com'] },
    ]);
    assert.deepEqual(ldapmodifyReads(r.undo), [
      { dn: SPACE1, op: 'delete', attribute: 'proxyAddresses', values: ['smtp:ab@contoso.com'] },
      { dn: SPACE1, op: 'add', attribute: 'proxyAddresses', values: ['smtp:a b@contoso.com'] },
    ]);
  });
  test('a blank value: the fix adds it (refused if one was set since), the undo deletes that value', () => {
    const r = fixLdif([finding(SPACE1, 'mail', 'blank', '', 'space1@contoso.com')]);
    assert.deepEqual(ldapmodifyReads(r.fix), [
      { dn: SPACE1, op: 'add', attribute: 'mail', values: ['space1@contoso.com'] },
    ]);
    assert.deepEqual(ldapmodifyReads(r.undo), [
      { dn: SPACE1, op: 'delete', attribute: 'mail', values: ['space1@contoso.com'] },
    ]);
  });
  test("an update of '' removes the value; the undo restores it", () => {
    const r = fixLdif([
      finding(SPACE1, 'targetAddress', 'format', 'nonsense', ''),
      finding(SPACE1, 'proxyAddresses', 'format', 'nonsense', ''),
    ]);
    assert.deepEqual(ldapmodifyReads(r.fix), [
      { dn: SPACE1, op: 'delete', attribute: 'proxyAddresses', values: ['nonsense'] },
      { dn: SPACE1, op: 'delete', attribute: 'targetAddress', values: ['nonsense'] },
    ]);
    assert.deepEqual(ldapmodifyReads(r.undo), [
      { dn: SPACE1, op: 'add', attribute: 'proxyAddresses', values: ['nonsense'] },
      { dn: SPACE1, op: 'add', attribute: 'targetAddress', values: ['nonsense'] },
    ]);
  });
  test('findings without an update give nothing; several findings on one value give one change', () => {
    const none = fixLdif([
      finding(SPACE1, 'proxyAddresses', 'duplicate', 'smtp:shared@contoso.com', undefined),
      finding(SPACE1, 'userPrincipalName', 'upn-suffix-not-federated', 'x@corp.local', undefined),
    ]);
    assert.equal(none.entries, 0);
    assert.equal(none.changes, 0);
    assert.ok(!none.fix.includes('dn:'));
    assert.deepEqual(ldapmodifyReads(none.fix), []);
    const two = fixLdif([
      finding(SPACE1, 'userPrincipalName', 'character', 'jü rgen@corp.local', 'jurgen@contoso.com'),
      finding(
        SPACE1,
        'userPrincipalName',
        'topleveldomain',
        'jü rgen@corp.local',
        'jurgen@contoso.com',
      ),
      finding(
        SPACE1,
        'userPrincipalName',
        'upn-suffix-not-federated',
        'jü rgen@corp.local',
        undefined,
      ),
    ]);
    assert.equal(two.changes, 1);
    assert.equal(ldapmodifyReads(two.fix).length, 2); // one delete + one add
  });
  test('one record per DN, records in DN order', () => {
    const b = `CN=b,${OU}`;
    const a = `CN=a,${OU}`;
    const r = fixLdif([
      finding(b, 'mailNickname', 'length', 'x'.repeat(65), 'x'.repeat(64)),
      finding(a, 'displayName', 'blank', '', 'a'),
      finding(b, 'displayName', 'blank', '', 'b'),
    ]);
    assert.equal(r.entries, 2);
    assert.equal(r.changes, 3);
    assert.equal(r.fix.match(/^dn: /gmu)?.length, 2);
    assert.deepEqual(
      ldapmodifyReads(r.fix).map((o) => `${o.dn.slice(0, 4)} ${o.attribute}`),
      ['CN=a displayName', 'CN=b displayName', 'CN=b mailNickname', 'CN=b mailNickname'],
    );
  });
});

test("the seeded directory's fix and undo files parse, with exactly the proposed changes", () => {
  const user = (
    sam: string,
    upn: string,
    extra: DirectoryObject['values'] = {},
  ): DirectoryObject => {
    const g = Buffer.alloc(16, sam.length);
    return {
      dn: `CN=${sam},${OU}`,
      commonName: sam,
      objectClass: 'user',
      container: OU,
      isCriticalSystemObject: false,
      values: { sAMAccountName: [sam], userPrincipalName: [upn], displayName: [sam], ...extra },
      objectGuid: g,
      consistencyGuid: g,
    };
  };
  const findings = analyse(
    [
      user('localupn', 'localupn@corp.local'),
      user('space1', 'john smith@contoso.com'),
      user('umlaut1', 'jürgen@contoso.com'),
      user('blankmail1', 'blankmail1@contoso.com', {
        proxyAddresses: ['SMTP:blankmail1@contoso.com'],
      }),
      user('longnick1', 'longnick1@contoso.com', { mailNickname: ['n'.repeat(65)] }),
      user('dupupn1', 'dupe@contoso.com'),
      user('dupmail1', 'dupmail1@contoso.com', { mail: ['dupe@contoso.com'] }),
    ],
    {
      federatedDomains: ['contoso.com'],
      adDnsDomain: 'corp.example.test',
      checkSourceAnchor: true,
    },
  );
  const r = fixLdif(findings);
  const dn = (sam: string) => `CN=${sam},${OU}`;
  const UPN = 'userPrincipalName';
  const swap = (sam: string, attribute: string, from: string, to: string) => [
    ...(from === '' ? [] : [{ dn: dn(sam), op: 'delete', attribute, values: [from] }]),
    { dn: dn(sam), op: 'add', attribute, values: [to] },
  ];
  const notAscii = `NOT ASCII (${Buffer.byteLength('jürgen@contoso.com')} bytes)`;
  assert.deepEqual(ldapmodifyReads(r.fix), [
    ...swap('blankmail1', 'mail', '', 'blankmail1@contoso.com'),
    ...swap('localupn', UPN, 'localupn@corp.local', 'localupn@contoso.com'),
    ...swap('longnick1', 'mailNickname', 'n'.repeat(65), 'n'.repeat(64)),
    ...swap('space1', UPN, 'john smith@contoso.com', 'johnsmith@contoso.com'),
    ...swap('umlaut1', UPN, notAscii, 'jurgen@contoso.com'),
  ]);
  assert.deepEqual(ldapmodifyReads(r.undo), [
    { dn: dn('blankmail1'), op: 'delete', attribute: 'mail', values: ['blankmail1@contoso.com'] },
    ...swap('localupn', UPN, 'localupn@contoso.com', 'localupn@corp.local'),
    ...swap('longnick1', 'mailNickname', 'n'.repeat(64), 'n'.repeat(65)),
    ...swap('space1', UPN, 'johnsmith@contoso.com', 'john smith@contoso.com'),
    ...swap('umlaut1', UPN, 'jurgen@contoso.com', notAscii),
  ]);
  assert.equal(r.entries, 5);
  assert.equal(r.changes, 5);
});

test('any values and DNs (fast-check, fixed seed): both files parse in ldapmodify, one record per DN', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(' ', ':', '<', 'a ', '\n', '\r\n', '-', 'dn: x', 'version: 1', '#x'),
  );
  const attribute = fc.constantFrom('userPrincipalName', 'displayName', 'proxyAddresses', 'mail');
  const findings = fc.array(
    fc
      .record({
        dn: fc.oneof(
          fc.constant(SPACE1),
          text.map((t) => `CN=${t},${OU}`),
        ),
        attribute,
        value: text,
        update: fc.option(text, { nil: undefined }),
      })
      .map((f) => finding(f.dn, f.attribute, 'character', f.value, f.update)),
    { minLength: 1, maxLength: 60 },
  );
  const samples = fc.sample(findings, { numRuns: 20, seed: 2849 });
  for (const fs of samples) {
    const r = fixLdif(fs);
    // Raw DNs and values may hold line breaks, which the printout shows as they are: count entries only.
    const entries = (out: string) => out.split('!modifying entry "').length - 1;
    assert.equal(entries(ldapmodifyAccepts(r.fix)), r.entries);
    assert.equal(entries(ldapmodifyAccepts(r.undo)), r.entries);
  }
});
