import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import {
  badPwdCount,
  clearAdLockout,
  isTokenPage,
  signInFrom,
} from '../helpers/account-protection.ts';
import { hidden, M365, makeTestApp, type TestApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';
import request from 'supertest';

// Security-corpus C1.7: two fedgate instances (a farm: same signing key and session secret) on one real Redis
// count spray3's bad passwords in ONE counter, whichever instance receives each attempt. spray3 is under a PSO
// with AD lockout threshold 10 (tests/setup/samba.sh); fedgate's threshold here is 5. AD's badPwdCount is read
// independently with ldapsearch as Administrator, and the counter itself is read from Redis with a separate
// client (not through fedgate's store).

const FAMILIAR = '203.0.113.33';
const AD_THRESHOLD = 10;
const THRESHOLD = 5;

describe('smart lockout counters are shared by two instances on one Redis (C1.7)', () => {
  let env: SambaEnv;
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;

  before(async () => {
    env = sambaEnv();
    // Reruns start from a clean AD state (fedgate's state starts clean: the Redis is new).
    clearAdLockout(env, 'spray3');
    redis = await startRedis();
    const keysDir = join(mkdtempSync(join(tmpdir(), 'fedgate-farm-keys-')), 'keys');
    const secret = 'shared-session-secret-of-the-farm-0123456789';
    const config = {
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off' as const, trustedProxies: ['loopback'] },
      keys: { dir: keysDir },
      session: { lifetimeMinutes: 480, secrets: [secret] },
      store: { kind: 'redis' as const, url: redis.url },
      lockout: {
        threshold: THRESHOLD,
        observationWindowMinutes: 30,
        spray: { maxFailuresPerSource: 1000, distinctAccountsAlert: 1000, windowMinutes: 10 },
      },
    };
    a = await makeTestApp(config);
    b = await makeTestApp(config);
  });
  after(async () => {
    await (a as TestApp | undefined)?.close();
    await (b as TestApp | undefined)?.close();
    await (redis as TestRedis | undefined)?.stop();
  });

  test('bad passwords spread over both instances hit one counter; the lock holds on both', async () => {
    assert.equal(a.services.store.kind, 'redis');
    assert.equal(b.services.store.kind, 'redis');
    const pw = env.users.spray3.password;
    const guid = readObjectGuidWithCli(env, 'spray3').toString('base64');
    const account = `guid:${guid}`;
    const counterKey = `fedgate:counter:lockout:${account}:unknown:count`;
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      // 1. The real user signs in on instance A from the office: the address becomes familiar on the farm.
      const first = await signInFrom(a.app, { username: 'spray3', password: pw, xff: FAMILIAR });
      assert.ok(isTokenPage(first.res), first.res.text.slice(0, 300));
      assert.equal(badPwdCount(env, 'spray3'), 0);
      assert.deepEqual((await b.services.lockout.show(account)).familiarLocations, [FAMILIAR]);

      // 2. Attack from unknown addresses, alternating instances and name spellings: A, B, A, B, A.
      const names = ['spray3', 'CORP\\spray3', env.users.spray3.upn];
      for (let i = 0; i < THRESHOLD; i++) {
        const node = i % 2 === 0 ? a : b;
        const { res } = await signInFrom(node.app, {
          username: names[i % names.length] ?? 'spray3',
          password: `Wrong-${String(i)}-shared`,
          xff: `198.51.100.${String(120 + i)}`,
        });
        assert.ok(!isTokenPage(res));
        assert.ok(res.text.includes(GENERIC_FAILURE.slice(0, 30)), `attempt ${String(i)}`);
        // The counter in Redis (read directly) counts every attempt, whichever instance got it.
        assert.equal(await raw.get(counterKey), String(i + 1), `after attempt ${String(i)}`);
      }
      // Each instance checked its own share of the passwords (1203) and none refused anything yet.
      const bad = (t: TestApp): number =>
        t.logs.events('signin').filter((e) => e.eventId === 1203).length;
      assert.equal(bad(a), 3);
      assert.equal(bad(b), 2);
      assert.equal(a.logs.events('extranet_lockout').length, 0);
      assert.equal(b.logs.events('extranet_lockout').length, 0);
      // The fifth failure (on A) reached the threshold: one 516 there, none on B.
      assert.equal(a.logs.events('account_locked_out').length, 1);
      assert.equal(a.logs.events('account_locked_out')[0]?.eventId, 516);
      assert.equal(b.logs.events('account_locked_out').length, 0);
      assert.equal(
        badPwdCount(env, 'spray3'),
        THRESHOLD,
        'each checked bad password reached AD once',
      );

      // 3. The next attempt is refused before any bind whichever instance gets it: B, then A, then B.
      for (const [i, node] of [b, a, b].entries()) {
        const before1 = node.logs.events('extranet_lockout').length;
        const { res } = await signInFrom(node.app, {
          username: names[i] ?? 'spray3',
          password: `Wrong-locked-${String(i)}`,
          xff: `198.51.100.${String(140 + i)}`,
        });
        assert.ok(!isTokenPage(res));
        assert.ok(res.text.includes(GENERIC_FAILURE.slice(0, 30)));
        const blocked = node.logs.events('extranet_lockout');
        assert.equal(blocked.length, before1 + 1);
        assert.equal(blocked.at(-1)?.eventId, 1210);
        assert.equal(blocked.at(-1)?.account, account);
        assert.equal(blocked.at(-1)?.enforced, true);
      }
      assert.equal(badPwdCount(env, 'spray3'), THRESHOLD, 'no bind while locked');
      assert.ok(badPwdCount(env, 'spray3') < AD_THRESHOLD);
      // Both instances see the same state.
      const viewA = await a.services.lockout.show(account);
      const viewB = await b.services.lockout.show(account);
      assert.deepEqual(viewA, viewB);
      assert.equal(viewA.unknown.count, THRESHOLD);
      assert.equal(viewA.familiar.count, 0);
      assert.ok(viewA.unknown.lockedUntil !== undefined);

      // 4. The correct password from an unknown address is refused on either instance (C1.4).
      const stolen = await signInFrom(b.app, {
        username: 'spray3',
        password: pw,
        xff: '198.51.100.150',
      });
      assert.ok(!isTokenPage(stolen.res));
      assert.equal(b.logs.events('correct_password_while_locked').length, 1, 'AD FS 515 on B');

      // 5. During the attack the real user signs in from the familiar address on both instances.
      for (const node of [b, a]) {
        const ok = await signInFrom(node.app, { username: 'spray3', password: pw, xff: FAMILIAR });
        assert.ok(isTokenPage(ok.res), ok.res.text.slice(0, 300));
      }
      assert.equal(badPwdCount(env, 'spray3'), 0, 'a successful bind clears AD badPwdCount');
      // The familiar sign-ins cleared only the familiar class: the attacker's lock stays, farm-wide.
      assert.equal(await raw.get(counterKey), String(THRESHOLD));
      const after1 = a.logs.events('extranet_lockout').length;
      await signInFrom(a.app, {
        username: 'spray3',
        password: 'Wrong-after',
        xff: '198.51.100.160',
      });
      assert.equal(a.logs.events('extranet_lockout').length, after1 + 1);
      assert.equal(badPwdCount(env, 'spray3'), 0);
    } finally {
      await raw.close();
    }
  });

  test('sign-out on one instance ends the session on the other (C5.2, shared store)', async () => {
    const sso = '__Host-fedgate_sso';
    const { res, jar } = await signInFrom(a.app, {
      username: 'spray3',
      password: env.users.spray3.password,
      xff: FAMILIAR,
    });
    assert.ok(isTokenPage(res), res.text.slice(0, 300));
    const cookie = jar.get(sso);
    assert.ok(cookie !== undefined);
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365 }).toString();
    const viaB = await request(b.app).get(`/adfs/ls/?${q}`).set('Cookie', `${sso}=${cookie}`);
    assert.ok(isTokenPage(viaB), 'SSO from A works on B');
    const out = await request(b.app)
      .get('/adfs/ls/?wa=wsignout1.0')
      .set('Cookie', `${sso}=${cookie}`);
    assert.equal(out.status, 200);
    const replay = await request(a.app).get(`/adfs/ls/?${q}`).set('Cookie', `${sso}=${cookie}`);
    assert.equal(replay.status, 200);
    assert.ok(!isTokenPage(replay), 'the session ended farm-wide');
    assert.match(replay.text, /name="AuthState"/);
  });
});

// Password-expiry claims (AD FS "Issue Password Expiry Claims", [PWDEXP]) from AD's own
// msDS-UserPasswordExpiryTimeComputed. spray3's pwdLastSet is backdated 35 days in sam.ldb (the domain's maxPwdAge
// is 42 days, so the password stays valid and expires in ~7 days) and restored to its previous value afterwards.
// This describe shares the file with the lockout test above on purpose: both use spray3 and a successful bind here
// would reset the badPwdCount the test above asserts on; node runs one file's tests in sequence.

const EXP_TIME = 'http://schemas.microsoft.com/ws/2012/01/passwordexpirationtime';
const EXP_DAYS = 'http://schemas.microsoft.com/ws/2012/01/passwordexpirationdays';
const CHANGE_URL = 'http://schemas.microsoft.com/ws/2012/01/passwordchangeurl';
const DAY = 86_400_000;

function fileTime(d: Date): string {
  return String((BigInt(d.getTime()) + 11_644_473_600_000n) * 10_000n);
}
function fromFileTime(v: string): Date {
  return new Date(Number(BigInt(v) / 10_000n - 11_644_473_600_000n));
}
function readAttr(env: SambaEnv, attr: string): string {
  const v = readBinaryAttributeWithCli(env, 'spray3', attr);
  if (v === undefined) throw new Error(`spray3 has no ${attr}`);
  return v.toString('utf8');
}
/** Writes pwdLastSet straight into sam.ldb (as tests/helpers/account-protection.ts does for expired users). */
function setPwdLastSet(env: SambaEnv, value: string): void {
  execFileSync(
    'ldbmodify',
    [
      '-H',
      join(env.stateDir, 'dc', 'private', 'sam.ldb'),
      '--controls=local_oid:1.3.6.1.4.1.7165.4.3.12:0',
    ],
    {
      input: `dn: ${env.users.spray3.dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: ${value}\n`,
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
}

async function tokenClaims(t: TestApp, res: request.Response): Promise<Record<string, string[]>> {
  assert.ok(isTokenPage(res), res.text.slice(0, 300));
  const cert = certFromMetadata(
    (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
  )[0];
  assert.ok(cert !== undefined);
  return verifySaml11WithXmlCrypto(extractAssertionFromRstr(hidden(res.text, 'wresult')), cert)
    .attributes;
}

describe('password-expiry claims within the notice window (Samba, spray3)', () => {
  let env: SambaEnv;
  let original: string;
  const apps: TestApp[] = [];
  const app = async (noticeDays?: number): Promise<TestApp> => {
    const t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      ...(noticeDays === undefined
        ? {}
        : {
            passwordChange: {
              enabled: true,
              maxAttemptsPerSource: 10,
              expiryNoticeDays: noticeDays,
            },
          }),
    });
    apps.push(t);
    return t;
  };
  const signInSpray3 = (t: TestApp): ReturnType<typeof signInFrom> =>
    signInFrom(t.app, { username: 'spray3', password: env.users.spray3.password, xff: FAMILIAR });

  before(() => {
    env = sambaEnv();
    clearAdLockout(env, 'spray3');
    original = readAttr(env, 'pwdLastSet');
    setPwdLastSet(env, fileTime(new Date(Date.now() - 35 * DAY)));
  });
  after(async () => {
    setPwdLastSet(env, original);
    for (const t of apps) await t.close();
  });

  test('a password expiring in ~7 days: the three claims in the Microsoft 365 token (default window 14)', async () => {
    // AD's own computation, read independently as Administrator.
    const expires = fromFileTime(readAttr(env, 'msDS-UserPasswordExpiryTimeComputed'));
    const left = expires.getTime() - Date.now();
    assert.ok(left > 6 * DAY && left < 8 * DAY, `expires ${expires.toISOString()}`);
    const t = await app();
    const before1 = Date.now();
    const { res, jar } = await signInSpray3(t);
    const c = await tokenClaims(t, res);
    assert.deepEqual(c[EXP_TIME], [expires.toISOString()]);
    const days = Number(c[EXP_DAYS]?.[0]);
    assert.equal(days, Math.ceil((expires.getTime() - before1) / DAY));
    assert.deepEqual(c[CHANGE_URL], ['https://sts.fedgate.test/adfs/portal/updatepassword/']);

    // An SSO sign-in (no password typed) carries none, as in AD FS.
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365 });
    const sso = await request(t.app)
      .get(`/adfs/ls/?${q.toString()}`)
      .set('X-Forwarded-For', FAMILIAR)
      .set('Cookie', jar.header());
    const ssoClaims = await tokenClaims(t, sso);
    assert.equal(ssoClaims[EXP_TIME], undefined);
    assert.equal(ssoClaims[EXP_DAYS], undefined);
  });

  test('outside a configured 5-day window, and with the window 0, no expiry claims', async () => {
    for (const days of [5, 0]) {
      const t = await app(days);
      const c = await tokenClaims(t, (await signInSpray3(t)).res);
      assert.equal(c[EXP_TIME], undefined, `window ${String(days)}`);
      assert.equal(c[EXP_DAYS], undefined);
      assert.equal(c[CHANGE_URL], undefined);
    }
    // A wider window than the default sees it too (not a fixed 14).
    const wide = await app(30);
    const c = await tokenClaims(wide, (await signInSpray3(wide)).res);
    assert.equal(c[EXP_TIME]?.length, 1);
  });

  test('a freshly set password (expires in ~42 days) gets no claims with the default window', async () => {
    setPwdLastSet(env, fileTime(new Date()));
    const left =
      fromFileTime(readAttr(env, 'msDS-UserPasswordExpiryTimeComputed')).getTime() - Date.now();
    assert.ok(left > 40 * DAY, String(left / DAY));
    const t = await app();
    const c = await tokenClaims(t, (await signInSpray3(t)).res);
    assert.equal(c[EXP_TIME], undefined);
    assert.equal(c[EXP_DAYS], undefined);
  });
});
