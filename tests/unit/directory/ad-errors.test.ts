// AD bind sub-code mapping (security-corpus C3).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapInvalidCredentials } from '../../../server/directory/ad-errors.ts';

const msg = (code: string): string =>
  `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${code}, v1db1 Code: 0x31`;

describe('mapInvalidCredentials', () => {
  it('maps every AD sub-code of the C3 table', () => {
    const table: [string, string][] = [
      ['525', 'bad_credentials'],
      ['52e', 'bad_credentials'],
      ['530', 'logon_restricted'],
      ['531', 'logon_restricted'],
      ['532', 'password_expired'],
      ['533', 'disabled'],
      ['701', 'account_expired'],
      ['773', 'must_change_password'],
      ['775', 'locked'],
    ];
    for (const [code, kind] of table)
      assert.deepEqual(mapInvalidCredentials(msg(code)), { kind, reason: `ad:${code}` });
  });

  it('normalises case and leading zeros', () => {
    assert.deepEqual(mapInvalidCredentials(msg('52E')), {
      kind: 'bad_credentials',
      reason: 'ad:52e',
    });
    assert.deepEqual(mapInvalidCredentials(msg('0775')), { kind: 'locked', reason: 'ad:775' });
  });

  it('treats unknown codes and non-AD servers as bad credentials, never success or outage', () => {
    assert.deepEqual(mapInvalidCredentials(msg('569')), {
      kind: 'bad_credentials',
      reason: 'ad:569',
    });
    assert.deepEqual(mapInvalidCredentials('Invalid credentials Code: 0x31'), {
      kind: 'bad_credentials',
      reason: 'ldap:49',
    });
  });
});
