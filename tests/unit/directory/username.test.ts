// Sign-in name parsing (security-corpus C4.3).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSignInName } from '../../../server/directory/username.ts';

const rules = { netbiosDomain: 'CORP' };

describe('parseSignInName', () => {
  it('maps the three forms to userPrincipalName or sAMAccountName', () => {
    assert.deepEqual(parseSignInName('jdoe@corp.example', rules), {
      ok: true,
      name: { form: 'upn', upn: 'jdoe@corp.example' },
    });
    assert.deepEqual(parseSignInName('CORP\\jdoe', rules), {
      ok: true,
      name: { form: 'sam', sAMAccountName: 'jdoe' },
    });
    assert.deepEqual(parseSignInName('corp\\JDoe', rules), {
      ok: true,
      name: { form: 'sam', sAMAccountName: 'JDoe' },
    });
    assert.deepEqual(parseSignInName('jdoe', rules), {
      ok: true,
      name: { form: 'sam', sAMAccountName: 'jdoe' },
    });
  });

  it('keeps filter metacharacters as data (they are escaped later, never rejected here)', () => {
    for (const n of ['*', 'adm*', '*)(objectClass=*', 'jdoe)(|(sAMAccountName=*']) {
      assert.deepEqual(parseSignInName(n, rules), {
        ok: true,
        name: { form: 'sam', sAMAccountName: n },
      });
    }
  });

  it('rejects malformed names', () => {
    const bad = [
      '',
      ' jdoe',
      'jdoe ',
      '\tjdoe',
      'jdoe\u00a0',
      'jdoe\u0000',
      'jd\u0007oe',
      'jdoe\u0085',
      'jdoe\u2028x',
      'a\\b\\c',
      'a\\b@c',
      '\\jdoe',
      'CORP\\',
      '@corp',
      'jdoe@',
      'a@b@c',
      'x'.repeat(257),
    ];
    for (const n of bad)
      assert.deepEqual(
        parseSignInName(n, rules),
        { ok: false, reason: 'invalid_name' },
        JSON.stringify(n),
      );
    assert.deepEqual(parseSignInName(42, rules), { ok: false, reason: 'invalid_name' });
    assert.equal(parseSignInName('x'.repeat(256), rules).ok, true);
  });

  it('refuses another NetBIOS domain', () => {
    assert.deepEqual(parseSignInName('OTHER\\jdoe', rules), {
      ok: false,
      reason: 'unknown_domain',
    });
    assert.deepEqual(parseSignInName('.\\jdoe', rules), { ok: false, reason: 'unknown_domain' });
  });

  it('limits UPN suffixes when configured, case-insensitively', () => {
    const limited = { ...rules, upnSuffixes: ['corp.example'] };
    assert.equal(parseSignInName('jdoe@CORP.example', limited).ok, true);
    assert.deepEqual(parseSignInName('jdoe@evil.example', limited), {
      ok: false,
      reason: 'unknown_upn_suffix',
    });
    assert.equal(parseSignInName('jdoe@evil.example', rules).ok, true, 'no list = any suffix');
  });
});
