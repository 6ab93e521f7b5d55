import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withExpiryNotice } from '../../../server/authn/password.ts';
import { inputClaims } from '../../../server/claims/input-claims.ts';
import { ClaimTypes } from '../../../server/claims/types.ts';
import { fileTimeToDate } from '../../../server/directory/ldap.ts';
import type { DirectoryUser } from '../../../server/directory/types.ts';

const DAY = 86_400_000;
const now = new Date('2026-11-27T12:00:00.000Z');

function user(passwordExpiresAt?: Date): DirectoryUser {
  return {
    dn: 'CN=u,DC=corp',
    objectGuid: Buffer.alloc(16, 1),
    immutableId: Buffer.alloc(16, 1).toString('base64'),
    sAMAccountName: 'u',
    netbiosDomain: 'CORP',
    windowsAccountName: 'CORP\\u',
    groups: [],
    enabled: true,
    passwordExpiresAt,
  };
}

test('msDS-UserPasswordExpiryTimeComputed: FILETIME to Date; never and junk are undefined', () => {
  // 2026-11-27T12:00:00Z = (ms + 11644473600000) × 10⁴
  const ft = String((BigInt(now.getTime()) + 11_644_473_600_000n) * 10_000n);
  assert.equal(fileTimeToDate(ft)?.toISOString(), now.toISOString());
  assert.equal(fileTimeToDate('0'), undefined);
  assert.equal(fileTimeToDate('9223372036854775807'), undefined);
  assert.equal(fileTimeToDate('-1'), undefined);
  assert.equal(fileTimeToDate('soon'), undefined);
  assert.equal(fileTimeToDate(undefined), undefined);
});

test('the notice is set only when the password expires within the window', () => {
  const in7 = new Date(now.getTime() + 7 * DAY);
  assert.equal(withExpiryNotice(user(in7), now, 14).passwordExpiryNotice, in7);
  assert.equal(withExpiryNotice(user(in7), now, 7).passwordExpiryNotice, in7, 'edge inclusive');
  assert.equal(withExpiryNotice(user(in7), now, 6).passwordExpiryNotice, undefined);
  assert.equal(withExpiryNotice(user(in7), now, 0).passwordExpiryNotice, undefined, '0 = off');
  assert.equal(withExpiryNotice(user(), now, 14).passwordExpiryNotice, undefined, 'never expires');
  const past = new Date(now.getTime() - DAY);
  assert.equal(withExpiryNotice(user(past), now, 14).passwordExpiryNotice, undefined);
  const u = user(in7);
  withExpiryNotice(u, now, 14);
  assert.equal(u.passwordExpiryNotice, undefined, 'the directory user is not modified');
});

test('input claims carry passwordexpirationtime only with a notice', () => {
  const request = {
    clientIp: '192.0.2.1',
    endpointPath: '/adfs/ls/',
    insideCorporateNetwork: false,
  };
  const auth = (u: DirectoryUser) => ({ user: u, method: 'urn:password', instant: now });
  const in7 = new Date(now.getTime() + 7 * DAY);
  const withNotice = inputClaims(auth(withExpiryNotice(user(in7), now, 14)), request, []);
  const claim = withNotice.filter((c) => c.type === ClaimTypes.passwordExpirationTime);
  assert.deepEqual(
    claim.map((c) => c.value),
    [in7.toISOString()],
  );
  const none = inputClaims(auth(user(in7)), request, []);
  assert.equal(none.filter((c) => c.type === ClaimTypes.passwordExpirationTime).length, 0);
});
