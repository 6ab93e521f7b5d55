import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client } from 'ldapts';
import request from 'supertest';
import { DEMO_PASSWORD } from '../../server/directory/demo-directory.ts';
import {
  adminModify,
  isTokenPage,
  signInFrom,
  spyOnDirectory,
} from '../helpers/account-protection.ts';
import { Jar, M365, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';
import { sambaEnv, sambaLdapConfig, type SambaEnv } from '../helpers/samba.ts';

// Security corpus C (identity-provider-side attacks) cases that had no test, or only part of one. Each test names
// its case id; docs/security.md maps every id to its test.

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
    changes = spyOnDirectory(t.services.directory, 'changePassword');
    authns = spyOnDirectory(t.services.directory, 'authenticate');
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

// ---- C2.2 and C4.4 against the real Samba AD DC -------------------------------------------------------------

/** Every simple bind the real ldapts client sends, by DN (a spy on the prototype: the bind still goes to the DC). */
function spyOnLdapBinds(): { dns: string[]; restore: () => void } {
  const dns: string[] = [];
  const proto = Client.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = proto.bind;
  if (real === undefined) throw new Error('ldapts Client has no bind');
  proto.bind = function (this: unknown, ...args: unknown[]) {
    dns.push(typeof args[0] === 'string' ? args[0] : '?');
    return real.apply(this, args);
  };
  return {
    dns,
    restore: () => {
      proto.bind = real;
    },
  };
}

describe('corpus C2.2 / C4.4 on Samba AD', () => {
  let env: SambaEnv;
  let t: TestApp;
  let binds: ReturnType<typeof spyOnLdapBinds>;
  // This file's own account (created here, so no other test's user is disabled or gets bad passwords).
  const SAM = 'fgcorpusc1';
  const PASSWORD = `Cc-${randomUUID().slice(0, 12)}!7`;
  let dn = '';
  let upn = '';
  before(async () => {
    env = sambaEnv();
    dn = `CN=${SAM},CN=Users,${env.baseDn.replace(/^CN=Users,/i, '')}`;
    upn = `${SAM}@${env.upnSuffix}`;
    try {
      adminModify(env, `dn: ${dn}\nchangetype: delete\n`);
    } catch {
      /* not there yet */
    }
    const pw = Buffer.from(`"${PASSWORD}"`, 'utf16le').toString('base64');
    adminModify(
      env,
      `dn: ${dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: ${SAM}\nuserPrincipalName: ${upn}\n` +
        `unicodePwd:: ${pw}\nuserAccountControl: 512\n`,
    );
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      directory: sambaLdapConfig(env),
    });
    binds = spyOnLdapBinds();
  });
  after(async () => {
    binds.restore();
    await t.close();
    adminModify(env, `dn: ${dn}\nchangetype: delete\n`);
  });

  /** User binds only: the service account's own (re)binds are not what C2.2 is about. */
  const userBinds = (from: number): string[] =>
    binds.dns.slice(from).filter((d) => d.toLowerCase() !== env.bindDn.toLowerCase());

  test('C2.2 an unknown name costs one real bind to the DC (a decoy DN), exactly as a wrong password does', async () => {
    const a = binds.dns.length;
    const unknown = await signInFrom(t.app, {
      username: `nosuch-${randomUUID().slice(0, 8)}@${env.upnSuffix}`,
      password: 'Wrong-Passw0rd-1',
      xff: '198.51.100.91',
    });
    assert.equal(isTokenPage(unknown.res), false);
    const unknownBinds = userBinds(a);
    assert.equal(unknownBinds.length, 1, `binds: ${unknownBinds.join(' | ')}`);
    assert.match(unknownBinds[0] ?? '', /^CN=fedgate-decoy-[0-9a-f]{24},/);
    const b = binds.dns.length;
    const wrong = await signInFrom(t.app, {
      username: upn,
      password: 'Wrong-Passw0rd-1',
      xff: '198.51.100.91',
    });
    assert.equal(isTokenPage(wrong.res), false);
    const wrongBinds = userBinds(b);
    assert.equal(wrongBinds.length, 1);
    assert.equal(wrongBinds[0]?.toLowerCase(), dn.toLowerCase());
    // Same page for both (C2.1): the decoy must not be visible.
    assert.equal(
      unknown.res.text.replace(/[0-9a-f-]{36}/g, '').replace(/value="[^"]*"/g, '').length,
      wrong.res.text.replace(/[0-9a-f-]{36}/g, '').replace(/value="[^"]*"/g, '').length,
    );
  });

  test('C4.4 a disabled account: the SSO session is not honoured, and the right password gets AD 533 → refused', async () => {
    const jar = new Jar();
    const ok = await signInFrom(t.app, { username: upn, password: PASSWORD, xff: '10.1.2.3', jar });
    assert.ok(isTokenPage(ok.res), ok.res.text.slice(0, 300));
    // Control: while enabled, the session gives SSO with no form.
    const q = `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`;
    const sso = await request(t.app).get(q).set('Cookie', jar.header());
    assert.ok(isTokenPage(sso), 'SSO control');
    adminModify(
      env,
      `dn: ${dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n`,
    );
    // Path 1: the directory look-up behind the SSO session sees the account disabled.
    const after = await request(t.app).get(q).set('Cookie', jar.header());
    assert.equal(isTokenPage(after), false, 'SSO honoured for a disabled account');
    // Path 2: the right password is refused by AD's bind sub-code 533.
    const pw = await signInFrom(t.app, { username: upn, password: PASSWORD, xff: '10.1.2.3' });
    assert.equal(isTokenPage(pw.res), false, 'disabled account signed in with its password');
    const ev = t.logs
      .events('signin')
      .find((e) => e.activityId === pw.res.headers['x-activity-id'] && e.outcome === 'failure');
    assert.equal(ev?.kind, 'disabled');
  });
});
