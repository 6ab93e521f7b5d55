import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD } from '../../server/directory/demo-directory.ts';
import type { DirectoryProvider } from '../../server/directory/types.ts';
import { isTokenPage, signInFrom } from '../helpers/account-protection.ts';
import { Jar, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';

// Security corpus C (identity-provider-side attacks) cases that had no test, or only part of one. Each test names
// its case id; docs/security.md maps every id to its test.

/** Counts calls to one method of the real directory; the call still goes through to it (a spy, not a stub). */
function spyOn(
  directory: DirectoryProvider,
  method: 'authenticate' | 'changePassword',
): { count: () => number } {
  let n = 0;
  const target = directory as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = target[method];
  if (real === undefined) throw new Error(`directory has no ${method}`);
  target[method] = (...args: unknown[]) => {
    n++;
    return real.apply(directory, args);
  };
  return { count: () => n };
}

describe('corpus C1.8: the password-change endpoint shares the lockout counters and is rate limited', () => {
  let t: TestApp;
  let changes: { count: () => number };
  let authns: { count: () => number };
  before(async () => {
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      lockout: { threshold: 2 },
      passwordChange: { enabled: true, maxAttemptsPerSource: 3, expiryNoticeDays: 14 },
    });
    changes = spyOn(t.services.directory, 'changePassword');
    authns = spyOn(t.services.directory, 'authenticate');
  });
  after(async () => {
    await t.close();
  });

  /** One attempt on /adfs/portal/updatepassword/ from `ip`, through a fresh form (CSRF token and ticket). */
  async function changeFrom(
    ip: string,
    fields: { user: string; old: string; fresh?: string },
  ): Promise<request.Response> {
    const jar = new Jar();
    const page = await request(t.app)
      .get('/adfs/portal/updatepassword/')
      .set('X-Forwarded-For', ip)
      .set('Cookie', jar.header());
    jar.take(page);
    assert.equal(page.status, 200, page.text.slice(0, 300));
    const fresh = fields.fresh ?? 'N3w-Passw0rd!x7';
    return request(t.app)
      .post('/adfs/portal/updatepassword/')
      .set('X-Forwarded-For', ip)
      .set('Cookie', jar.header())
      .type('form')
      .send({
        Ticket: hidden(page.text, 'Ticket'),
        csrf: hidden(page.text, 'csrf'),
        UserName: fields.user,
        OldPassword: fields.old,
        NewPassword: fresh,
        ConfirmNewPassword: fresh,
      });
  }

  test('C1.8 wrong current passwords on the password-change page lock the passive sign-in (one counter)', async () => {
    const ip = '203.0.113.81';
    for (let i = 0; i < 2; i++) {
      const res = await changeFrom(ip, { user: 'bob', old: `Wrong-${String(i)}-pw` });
      assert.doesNotMatch(res.text, /id="passwordUpdated"/);
    }
    // The right password over the passive form, from the same unfamiliar address, is now refused: the lock
    // those two change attempts set is the sign-in's lock.
    const binds = authns.count();
    const signin = await signInFrom(t.app, { username: 'bob', password: DEMO_PASSWORD, xff: ip });
    assert.equal(isTokenPage(signin.res), false, 'bob signed in through a lock the page set');
    assert.equal(authns.count(), binds, 'the locked sign-in reached the directory');
    const lock = t.logs
      .events('extranet_lockout')
      .find((e) => e.activityId === signin.res.headers['x-activity-id']);
    assert.equal(lock?.enforced, true, 'refused by the smart-lockout gate');
  });

  test('C1.8 an account locked by the sign-in form cannot be probed through the password-change page', async () => {
    const ip = '203.0.113.82';
    for (let i = 0; i < 2; i++)
      assert.equal(
        isTokenPage(
          (await signInFrom(t.app, { username: 'grace', password: `Wrong-${String(i)}`, xff: ip }))
            .res,
        ),
        false,
      );
    const before = changes.count();
    // The correct current password: the page must neither change it nor ask the directory (no oracle).
    const res = await changeFrom(ip, { user: 'grace', old: DEMO_PASSWORD });
    assert.doesNotMatch(res.text, /id="passwordUpdated"/);
    assert.equal(changes.count(), before, 'the directory was asked to change a locked account');
  });

  test('C1.8 the password-change page is rate limited per source address (429, directory not asked)', async () => {
    const ip = '198.51.100.83';
    // Three attempts (the configured maxAttemptsPerSource) spread over three names, so no account lock is hit.
    for (const user of ['nobody-1', 'nobody-2', 'nobody-3']) {
      const res = await changeFrom(ip, { user, old: 'Wrong-pw-1' });
      assert.notEqual(res.status, 429);
    }
    const before = changes.count();
    const limited = await changeFrom(ip, { user: 'alice', old: DEMO_PASSWORD });
    assert.equal(limited.status, 429, limited.text.slice(0, 300));
    assert.doesNotMatch(limited.text, /id="passwordUpdated"/);
    assert.equal(changes.count(), before, 'a rate-limited attempt reached the directory');
    assert.equal(t.logs.events('password_change_rate_limited').length, 1);
    // Another source is not affected.
    const other = await changeFrom('198.51.100.84', { user: 'nobody-4', old: 'Wrong-pw-1' });
    assert.notEqual(other.status, 429);
  });
});
