import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import { M365, formAction, hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

// The whole WS-Fed flow against the real Samba AD DC (tests/setup/samba.sh). The DC's lockout policy locks an
// account after 5 bad passwords, so this file makes at most ONE wrong-password attempt per account.

describe('WS-Federation sign-in against Active Directory (Samba AD DC over LDAPS)', () => {
  let env: SambaEnv;
  let t: TestApp;
  let cert: string;
  before(async () => {
    env = sambaEnv();
    // Password change off: with it on, expired/must-change users (right password) get the change-password page
    // (corpus C3 table; tests/integration/password-change-samba.test.ts), not the generic failure tested here.
    t = await makeTestApp({ directory: sambaLdapConfig(env), passwordChange: { enabled: false } });
    cert = certFromMetadata(
      (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
  });
  after(async () => {
    await t.close();
  });

  function tokenOf(res: request.Response) {
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.equal(formAction(res.text), 'https://login.microsoftonline.com/login.srf');
    const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
    const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    return verifySaml11WithXmlCrypto(assertion, cert);
  }

  test('jdoe signs in with each name form; ImmutableID is the objectGUID read independently with ldapsearch', async () => {
    const guid = readObjectGuidWithCli(env, 'jdoe').toString('base64');
    for (const username of [
      env.users.jdoe.upn,
      `${env.netbiosDomain}\\jdoe`,
      'jdoe',
      'corp\\JDOE',
      env.users.jdoe.upn.toUpperCase(),
    ]) {
      const { res } = await signIn(t.app, { username, password: env.users.jdoe.password });
      const claims = tokenOf(res);
      assert.equal(claims.nameIdentifier, guid, username);
      assert.deepEqual(
        claims.attributes['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'],
        [guid],
      );
      assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
        env.users.jdoe.upn,
      ]);
      assert.equal(claims.audience, M365);
      assert.equal(claims.issuer, 'http://sts.fedgate.test/adfs/services/trust');
    }
  });

  test('mS-DS-ConsistencyGuid wins over objectGUID when set', async () => {
    const { res } = await signIn(t.app, {
      username: env.users.consistency1.upn,
      password: env.users.consistency1.password,
    });
    const claims = tokenOf(res);
    assert.equal(claims.nameIdentifier, env.consistencyGuid);
    assert.notEqual(
      claims.nameIdentifier,
      readObjectGuidWithCli(env, 'consistency1').toString('base64'),
    );
  });

  test('SSO: the second sign-in re-reads the account from AD and does not prompt', async () => {
    const first = await signIn(t.app, { username: 'jsmith', password: env.users.jsmith.password });
    tokenOf(first.res);
    const again = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`)
      .set('Cookie', first.jar.header());
    const claims = tokenOf(again);
    assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
      env.users.jsmith.upn,
    ]);
  });

  test('wrong password, unknown user, disabled, expired, must-change, account-expired and locked all look the same', async () => {
    const cases: [string, string, string][] = [
      [env.users.jsmith.upn, 'Wrong-Passw0rd!', 'bad_credentials'], // the one wrong attempt for jsmith in this file
      [`nobody@${env.upnSuffix}`, 'Whatever-1', 'bad_credentials'],
      [env.users.disabled1.upn, env.users.disabled1.password, 'disabled'],
      [env.users.expired1.upn, env.users.expired1.password, 'password_expired'],
      [env.users.mustchange1.upn, env.users.mustchange1.password, 'must_change_password'],
      [env.users.acctexpired1.upn, env.users.acctexpired1.password, 'account_expired'],
      [env.users.locked1.upn, env.users.locked1.password, 'locked'],
    ];
    const bodies = new Set<string>();
    const statuses = new Set<number>();
    for (const [username, password, kind] of cases) {
      const { res } = await signIn(t.app, { username, password });
      assert.ok(res.text.includes(GENERIC_FAILURE), `${username}: generic message`);
      // The form's AuthState and csrf values are random tokens that may contain "775" or "52e" by chance.
      const fixedPart = res.text
        .replace(/name="AuthState" value="[^"]*"/, '')
        .replace(/name="csrf" value="[^"]*"/, '')
        .replace(/AuthState(=|&#x3D;)[A-Za-z0-9_-]+/g, 'AuthState$1…');
      assert.doesNotMatch(fixedPart, /name="wresult"|52e|533|532|773|701|775|LdapErr|DSID/);
      statuses.add(res.status);
      bodies.add(
        res.text
          .replace(/name="AuthState" value="[^"]*"/, '')
          .replace(/name="csrf" value="[^"]*"/, '')
          // The resume address (the language picker's way back) carries the handle too.
          .replace(/AuthState(=|&#x3D;)[A-Za-z0-9_-]+/g, 'AuthState$1…')
          .split(username)
          .join('USER'),
      );
      const ev = t.logs
        .events('signin')
        .filter((e) => e.username === username)
        .at(-1);
      assert.equal(ev?.kind, kind, `audit has the precise reason for ${username}`);
    }
    assert.equal(statuses.size, 1);
    assert.equal(bodies.size, 1, 'the pages differ only by the per-request tokens');
  });

  test('LDAP injection strings never match an account (C4.1); empty passwords never reach the DC (C4.5)', async () => {
    for (const username of [
      '*',
      'j*',
      '*)(objectClass=*',
      'jdoe)(|(sAMAccountName=*',
      'jdoe\u0000',
      'jdoe)(userAccountControl:1.2.840.113556.1.4.803:=2',
      'CORP\\*',
      '*@corp.example.test',
    ]) {
      const { res } = await signIn(t.app, { username, password: env.users.jdoe.password });
      assert.ok(res.text.includes(GENERIC_FAILURE), JSON.stringify(username));
      assert.doesNotMatch(res.text, /name="wresult"/);
    }
    for (const password of ['', '   ']) {
      const { res } = await signIn(t.app, { username: env.users.jdoe.upn, password });
      assert.ok(res.text.includes(GENERIC_FAILURE));
      const ev = t.logs.events('signin').at(-1);
      assert.equal(ev?.reason, 'empty_password');
    }
    // jdoe is still fine: none of the above counted as a bad password against the account.
    tokenOf(
      (await signIn(t.app, { username: env.users.jdoe.upn, password: env.users.jdoe.password }))
        .res,
    );
  });
});

describe('WS-Federation sign-in when no domain controller answers', () => {
  test('a clear 503 page with an activity id, and the server stays up', async () => {
    const env = sambaEnv();
    const t = await makeTestApp({
      directory: sambaLdapConfig(env, {
        urls: ['ldaps://127.0.0.1:1'],
        connectTimeoutMs: 500,
        timeoutMs: 1000,
      }),
    });
    try {
      const { res } = await signIn(t.app, {
        username: env.users.jdoe.upn,
        password: env.users.jdoe.password,
      });
      assert.equal(res.status, 503);
      assert.match(res.text, /cannot check your password right now/);
      assert.ok(res.text.includes(String(res.headers['x-activity-id'])));
      assert.doesNotMatch(res.text, /127\.0\.0\.1|ECONNREFUSED|ldaps/);
      assert.equal((await request(t.app).get('/adfs/probe')).status, 200);
    } finally {
      await t.close();
    }
  });
});
