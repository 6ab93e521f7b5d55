/**
 * AD FS 515 ("correct password while locked out") follows password changes: the verifier fedgate keeps from the
 * last successful sign-in is remade when the directory's pwdLastSet changes (and only then), so after a change
 * the OLD password no longer counts as correct and the NEW one does. Embedded directory (its password version
 * stands in for pwdLastSet); the same 515 path against Samba is in lockout-spray-samba.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authenticateWithPassword, type SignInAttempt } from '../../server/authn/password.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

const OLD = 'Passw0rd!';
const NEW = 'N3w-Passw0rd!x';

describe('515 verifier across a password change (embedded directory)', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp({ lockout: { threshold: 2 } });
  });
  after(() => t.close());

  const attempt = (password: string, clientIp: string): SignInAttempt => ({
    username: 'alice',
    password,
    clientIp,
    activityId: crypto.randomUUID(),
    relyingParty: 'urn:federation:MicrosoftOnline',
    method: 'forms',
  });

  test('after a change the old password is not "correct while locked"; the new one is', async () => {
    const familiar = '10.20.30.40';
    const unknown = '198.51.100.9';
    assert.equal((await authenticateWithPassword(t.services, attempt(OLD, familiar))).ok, true);
    const dir = t.services.directory;
    assert.ok(dir.changePassword !== undefined);
    const changed = await dir.changePassword('alice', OLD, NEW);
    assert.equal(changed.ok, true);
    assert.equal((await authenticateWithPassword(t.services, attempt(NEW, familiar))).ok, true);

    for (let i = 0; i < 2; i++)
      assert.equal(
        (await authenticateWithPassword(t.services, attempt('wrong', unknown))).ok,
        false,
      );
    const locked = t.logs.events('account_locked_out');
    assert.equal(locked.length, 1);

    const old = await authenticateWithPassword(t.services, attempt(OLD, unknown));
    assert.equal(old.ok, false);
    assert.equal(t.logs.events('correct_password_while_locked').length, 0, 'old password');
    const current = await authenticateWithPassword(t.services, attempt(NEW, unknown));
    assert.equal(current.ok, false);
    assert.equal(t.logs.events('correct_password_while_locked').length, 1, 'new password');
  });
});
