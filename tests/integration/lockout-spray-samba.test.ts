import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedClock } from '../../server/lib/clock.ts';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import {
  badPwdCount,
  clearAdLockout,
  isTokenPage,
  signInFrom,
} from '../helpers/account-protection.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';

// Extranet smart lockout against the real Samba AD DC. spray1/spray2 are under a fine-grained password policy
// with AD lockout threshold 10 (tests/setup/samba.sh); fedgate's threshold here is 5. AD's badPwdCount is read
// independently with ldapsearch as Administrator after each phase: it must never reach 10.

const FAMILIAR = '203.0.113.10';
const AD_THRESHOLD = 10;
const THRESHOLD = 5;

describe('smart lockout: a password spray against Samba never locks the account in AD', () => {
  let env: SambaEnv;
  let t: TestApp;
  const clock = new FixedClock(new Date());
  before(async () => {
    env = sambaEnv();
    clearAdLockout(env, 'spray1');
    clearAdLockout(env, 'spray2');
    t = await makeTestApp(
      {
        directory: sambaLdapConfig(env),
        listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
        lockout: {
          threshold: THRESHOLD,
          observationWindowMinutes: 30,
          spray: { maxFailuresPerSource: 1000, distinctAccountsAlert: 1000, windowMinutes: 10 },
        },
      },
      { clock },
    );
  });
  after(async () => {
    await t.close();
  });

  const pw = (): string => env.users.spray1.password;

  test('familiar user keeps signing in during a brute force from unknown addresses (C1.2-C1.6)', async () => {
    const guid = readObjectGuidWithCli(env, 'spray1').toString('base64');
    // 1. The real user signs in from the office: that address becomes familiar.
    const first = await signInFrom(t.app, { username: 'spray1', password: pw(), xff: FAMILIAR });
    assert.ok(isTokenPage(first.res), first.res.text.slice(0, 300));
    assert.equal(badPwdCount(env, 'spray1'), 0);

    // 2. Attack: 12 wrong passwords from 12 unknown addresses, with every spelling of the name (C1.6).
    const variants = [
      'spray1',
      'SPRAY1',
      'CORP\\spray1',
      'corp\\Spray1',
      env.users.spray1.upn,
      env.users.spray1.upn.toUpperCase(),
      'spray1 ',
      'ｓｐｒａｙ１', // full-width
    ];
    for (let i = 0; i < 12; i++) {
      const { res } = await signInFrom(t.app, {
        username: variants[i % variants.length] ?? 'spray1',
        password: `Wrong-${String(i)}-pw`,
        xff: `198.51.100.${String(i + 1)}`,
      });
      assert.equal(res.status, 200);
      assert.ok(res.text.includes(GENERIC_FAILURE.slice(0, 30)), `attempt ${String(i)}`);
      assert.ok(!isTokenPage(res));
    }
    const adCount = badPwdCount(env, 'spray1');
    // Only the binds before fedgate's threshold reached AD (the name variants AD itself rejects, like a trailing
    // space, are counted by fedgate without a bind).
    assert.ok(adCount <= THRESHOLD, `AD badPwdCount ${String(adCount)}`);
    assert.ok(adCount < AD_THRESHOLD);
    const blocked = t.logs.events('extranet_lockout');
    assert.equal(blocked.length, 12 - THRESHOLD);
    for (const e of blocked) {
      assert.equal(e.eventId, 1210);
      assert.equal(e.account, `guid:${guid}`);
      assert.equal(e.location, 'unknown');
      assert.equal(e.enforced, true);
      assert.equal(typeof e.activityId, 'string');
      assert.equal(typeof e.node, 'string');
    }
    const lockedOut = t.logs.events('account_locked_out');
    assert.equal(lockedOut.length, 1);
    assert.equal(lockedOut[0]?.eventId, 516);
    assert.equal(
      t.logs.events('signin').filter((e) => e.eventId === 1203).length,
      THRESHOLD,
      'one 1203 per bad password that was checked',
    );

    // 3. During the attack the real user, from the familiar address, still signs in.
    const again = await signInFrom(t.app, { username: 'spray1', password: pw(), xff: FAMILIAR });
    assert.ok(isTokenPage(again.res), again.res.text.slice(0, 300));
    assert.equal(badPwdCount(env, 'spray1'), 0, 'a successful bind clears AD badPwdCount');

    // 4. C1.4: the correct password from an unknown address is still refused, and audited as AD FS 515.
    const stolen = await signInFrom(t.app, {
      username: 'spray1',
      password: pw(),
      xff: '198.51.100.77',
    });
    assert.ok(!isTokenPage(stolen.res));
    assert.ok(stolen.res.text.includes(GENERIC_FAILURE.slice(0, 30)));
    const e515 = t.logs.events('correct_password_while_locked');
    assert.equal(e515.length, 1);
    assert.deepEqual(
      e515.map((e) => [e.eventId, e.ip]),
      [[515, '198.51.100.77']],
    );

    // 5. C1.5: forging the familiar address in X-Forwarded-For does not make the attacker familiar (every
    // presented address must be familiar).
    const forged = await signInFrom(t.app, {
      username: 'spray1',
      password: pw(),
      xff: `${FAMILIAR}, 198.51.100.78`,
    });
    assert.ok(!isTokenPage(forged.res));
    assert.equal(t.logs.events('correct_password_while_locked').length, 2);

    // 6. C1.3: after the observation window one attempt goes to AD; it fails and the lock is back at once.
    clock.advance(31 * 60_000);
    const before1 = t.logs.events('extranet_lockout').length;
    await signInFrom(t.app, {
      username: 'spray1',
      password: 'Wrong-after-window',
      xff: '198.51.100.90',
    });
    assert.equal(
      t.logs.events('extranet_lockout').length,
      before1,
      'the probe attempt was let through',
    );
    assert.equal(badPwdCount(env, 'spray1'), 1);
    await signInFrom(t.app, { username: 'spray1', password: 'Wrong-again', xff: '198.51.100.91' });
    assert.equal(t.logs.events('extranet_lockout').length, before1 + 1, 'locked again immediately');
    assert.equal(badPwdCount(env, 'spray1'), 1, 'no bind while locked');

    // The familiar user is still fine, and nothing secret reached the logs.
    const last = await signInFrom(t.app, { username: 'spray1', password: pw(), xff: FAMILIAR });
    assert.ok(isTokenPage(last.res));
    assert.ok(!t.logs.raw.some((l) => l.includes(pw())));
  });

  test('one source failing across many accounts: alert, then the source is refused before any bind (C1.1)', async () => {
    const app = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      lockout: { spray: { maxFailuresPerSource: 8, distinctAccountsAlert: 5, windowMinutes: 10 } },
    });
    try {
      const src = '192.0.2.50';
      for (let i = 0; i < 8; i++) {
        await signInFrom(app.app, {
          username: `nobody${String(i)}`,
          password: 'Summer2026!',
          xff: src,
        });
      }
      const alerts = app.logs.events('password_spray_suspected');
      assert.equal(alerts.length, 1, 'one alert per source and window');
      assert.equal(alerts[0]?.ip, src);
      // The budget is spent: a real account is not even looked at, so AD counts nothing.
      const before2 = badPwdCount(env, 'spray2');
      const { res } = await signInFrom(app.app, {
        username: 'spray2',
        password: 'Summer2026!',
        xff: src,
      });
      assert.ok(res.text.includes(GENERIC_FAILURE.slice(0, 30)));
      assert.equal(app.logs.events('source_rate_limited').length, 1);
      assert.equal(badPwdCount(env, 'spray2'), before2);
      // Another source is unaffected: spray2 signs in.
      const ok = await signInFrom(app.app, {
        username: 'spray2',
        password: env.users.spray2.password,
        xff: '192.0.2.51',
      });
      assert.ok(isTokenPage(ok.res));
    } finally {
      await app.close();
    }
  });

  test('banned address ranges are refused first, IPv4 and IPv6 CIDR (C1.10)', async () => {
    const app = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      lockout: { bannedAddresses: ['192.0.2.128/25', '2001:db8::/32'] },
    });
    try {
      for (const xff of ['192.0.2.200', '2001:db8::5']) {
        const { res } = await signInFrom(app.app, {
          username: 'spray2',
          password: env.users.spray2.password,
          xff,
        });
        assert.ok(!isTokenPage(res), xff);
        assert.ok(res.text.includes(GENERIC_FAILURE.slice(0, 30)));
      }
      assert.equal(app.logs.events('banned_address').length, 2);
      const ok = await signInFrom(app.app, {
        username: 'spray2',
        password: env.users.spray2.password,
        xff: '192.0.2.1',
      });
      assert.ok(isTokenPage(ok.res));
    } finally {
      await app.close();
    }
  });
});
