// Claim rules end to end: WS-Fed sign-ins against the Samba AD DC (tests/setup/samba.sh) run the Microsoft 365
// rule set of a real AD FS farm, the generic LDAP-attributes preset, and administrators' rule files; tokens are
// checked with xmlsec1 and xml-crypto against the certificate from our metadata. No wrong passwords here.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { sidToString } from '../../server/directory/guid.ts';
import { M365, formAction, hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
  type SambaUserName,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';

const IMMUTABLE_ID = 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID';
const UPN = 'http://schemas.xmlsoap.org/claims/UPN';
const GROUP = 'http://schemas.xmlsoap.org/claims/Group';
const APP = 'urn:fedgate:test:app';
const APP_REPLY = 'https://app.example/signin';

async function tokenOf(t: TestApp, res: request.Response, reply: string): Promise<Saml11Claims> {
  assert.equal(res.status, 200, res.text.slice(0, 500));
  assert.equal(formAction(res.text), reply);
  const cert = certFromMetadata(
    (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
  )[0]!;
  const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

describe('Microsoft 365 rule set against Active Directory, two federated UPN suffixes', () => {
  let env: SambaEnv;
  let t: TestApp;
  before(async () => {
    env = sambaEnv();
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      microsoft365: { federatedDomains: [env.upnSuffix, env.secondUpnSuffix] },
    });
  });
  after(() => t.close());

  const m365 = async (user: SambaUserName): Promise<Saml11Claims> => {
    const { res } = await signIn(t.app, { username: user, password: env.users[user].password });
    return tokenOf(t, res, 'https://login.microsoftonline.com/login.srf');
  };

  test('without mS-DS-ConsistencyGuid: ImmutableID = base64 objectGUID (read with ldapsearch), Issuer of the realm suffix', async () => {
    const claims = await m365('jdoe');
    const guid = readObjectGuidWithCli(env, 'jdoe').toString('base64');
    assert.deepEqual(claims.attributes[IMMUTABLE_ID], [guid]);
    assert.equal(claims.nameIdentifier, guid);
    assert.equal(
      claims.nameIdentifierFormat,
      'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    );
    assert.deepEqual(claims.attributes[UPN], [env.users.jdoe.upn]);
    assert.equal(claims.issuer, `http://${env.upnSuffix}/adfs/services/trust/`);
    assert.equal(claims.audience, M365);
    // What the rest of Entra Connect's rules send for a user signing in with a password.
    assert.deepEqual(
      claims.attributes['http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork'],
      ['false'],
    );
    assert.deepEqual(
      claims.attributes['http://schemas.microsoft.com/claims/authnmethodsreferences'],
      ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password'],
    );
    assert.deepEqual(
      Object.keys(claims.attributes).sort(),
      [
        IMMUTABLE_ID,
        UPN,
        'http://schemas.microsoft.com/claims/authnmethodsreferences',
        'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork',
      ].sort(),
      'no accounttype, issuerid, objectguid or other intermediate claims leak into the token',
    );
  });

  test('with mS-DS-ConsistencyGuid: it is the ImmutableID', async () => {
    const claims = await m365('consistency1');
    const consistency = readBinaryAttributeWithCli(env, 'consistency1', 'mS-DS-ConsistencyGuid');
    assert.ok(consistency);
    assert.equal(consistency.toString('base64'), env.consistencyGuid);
    assert.deepEqual(claims.attributes[IMMUTABLE_ID], [env.consistencyGuid]);
    assert.equal(claims.nameIdentifier, env.consistencyGuid);
    assert.notEqual(
      claims.nameIdentifier,
      readObjectGuidWithCli(env, 'consistency1').toString('base64'),
    );
  });

  test("a user of the second suffix gets that domain's Issuer; a subdomain user its root domain's", async () => {
    const fab = await m365('fabrikam1');
    assert.equal(fab.issuer, `http://${env.secondUpnSuffix}/adfs/services/trust/`);
    assert.deepEqual(fab.attributes[UPN], [`fabrikam1@${env.secondUpnSuffix}`]);
    assert.deepEqual(fab.attributes[IMMUTABLE_ID], [
      readObjectGuidWithCli(env, 'fabrikam1').toString('base64'),
    ]);
    const sub = await m365('subdomain1');
    assert.deepEqual(sub.attributes[UPN], [`subdomain1@eu.${env.secondUpnSuffix}`]);
    assert.equal(sub.issuer, `http://${env.secondUpnSuffix}/adfs/services/trust/`);
  });

  test('the audit line of an issued token names the relying party and the user', () => {
    const issued = t.logs.events('token_issued');
    assert.ok(issued.some((e) => e.upn === `fabrikam1@${env.secondUpnSuffix}` && e.rp === M365));
  });
});

describe('rule files from configuration against Active Directory', () => {
  let env: SambaEnv;
  let t: TestApp;
  let financeSid: string;
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-claims-'));
  before(async () => {
    env = sambaEnv();
    const sid = readBinaryAttributeWithCli(env, 'Finance', 'objectSid');
    assert.ok(sid);
    financeSid = sidToString(sid) ?? '';
    const nameId = `c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => issue(Type = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", Value = c.Value);`;
    // Claim values go into administrators' filters: the UPN (inject1's holds filter syntax) and the client's own
    // User-Agent header. Escaped, they can only ever match themselves.
    writeFileSync(
      join(dir, 'lookup.rules'),
      `${nameId}

@RuleName = "Accounts with my UPN"
c1:[Type == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] && c2:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => issue(store = "Active Directory", types = ("http://fedgate.test/claims/upn-match"), query = "userPrincipalName={0};sAMAccountName;{1}", param = c1.Value, param = c2.Value);

@RuleName = "Accounts named like my user agent"
c1:[Type == "http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent"] && c2:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => issue(store = "Active Directory", types = ("http://fedgate.test/claims/ua-match"), query = "(&(objectCategory=person)(sAMAccountName={0}));sAMAccountName;{1}", param = c1.Value, param = c2.Value);
`,
    );
    writeFileSync(
      join(dir, 'deny-finance.rules'),
      `@RuleTemplate = "AllowAllAuthzRule"
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");

@RuleTemplate = "Authorization"
@RuleName = "Deny Finance"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value == "${financeSid}", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");
`,
    );
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      relyingParties: [
        { identifier: APP, name: 'App', replyUrls: [APP_REPLY] },
        {
          identifier: `${APP}:lookup`,
          name: 'Lookup',
          replyUrls: [APP_REPLY],
          issuanceRulesFile: join(dir, 'lookup.rules'),
        },
        {
          identifier: `${APP}:deny`,
          name: 'Denied',
          replyUrls: [APP_REPLY],
          authorizationRulesFile: join(dir, 'deny-finance.rules'),
        },
      ],
    });
  });
  after(() => t.close());

  test('the generic preset sends LDAP attributes and every group, nested ones included', async () => {
    const { res } = await signIn(t.app, {
      username: 'jdoe',
      password: env.users.jdoe.password,
      realm: APP,
    });
    const claims = await tokenOf(t, res, APP_REPLY);
    const c = claims.attributes;
    assert.equal(claims.nameIdentifier, env.users.jdoe.upn);
    assert.deepEqual(c['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'], [
      env.users.jdoe.upn,
    ]);
    assert.deepEqual(c['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'], [
      'John Doe (Finance)',
    ]);
    assert.deepEqual(c['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'], [
      `john.doe@${env.upnSuffix}`,
    ]);
    assert.deepEqual(c['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname'], [
      'John',
    ]);
    assert.deepEqual(c['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname'], ['Doe']);
    for (const g of ['Finance', 'Staff', 'Domain Users'])
      assert.ok(c[GROUP]?.includes(g), `${g} in ${String(c[GROUP])}`);
    assert.deepEqual(
      c['http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname'],
      [`${env.netbiosDomain}\\jdoe`],
    );
  });

  test('LDAP injection (C4.1): a UPN full of filter syntax matches only its own account', async () => {
    const { res } = await signIn(t.app, {
      username: 'inject1',
      password: env.users.inject1.password,
      realm: `${APP}:lookup`,
    });
    const claims = await tokenOf(t, res, APP_REPLY);
    assert.equal(env.users.inject1.upn, `j*)(sAMAccountName=*@${env.upnSuffix}`);
    // Unescaped, (userPrincipalName=j*)(sAMAccountName=*@…) would have matched jdoe and jsmith too.
    assert.deepEqual(claims.attributes['http://fedgate.test/claims/upn-match'], ['inject1']);
  });

  test('LDAP injection (C4.1): the User-Agent header cannot widen a filter', async () => {
    const page = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(`${APP}:lookup`)}`)
      .set('User-Agent', 'jdoe');
    assert.equal(page.status, 200);
    for (const [agent, expected] of [
      ['jdoe', ['jdoe']],
      ['*', undefined],
      ['j*', undefined],
      ['*)(objectClass=*', undefined],
      ['jdoe)(|(sAMAccountName=*', undefined],
      ['jdoe)(userAccountControl:1.2.840.113556.1.4.803:=2', undefined],
    ] as const) {
      const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: `${APP}:lookup` });
      const signin = await request(t.app).get(`/adfs/ls/?${q.toString()}`).set('User-Agent', agent);
      const cookie = ([] as string[])
        .concat(signin.headers['set-cookie'] ?? [])
        .map((c) => c.split(';')[0])
        .join('; ');
      const res = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', cookie)
        .set('User-Agent', agent)
        .type('form')
        .send({
          AuthState: hidden(signin.text, 'AuthState'),
          csrf: hidden(signin.text, 'csrf'),
          UserName: 'jsmith',
          Password: env.users.jsmith.password,
        });
      const claims = await tokenOf(t, res, APP_REPLY);
      assert.deepEqual(claims.attributes['http://fedgate.test/claims/ua-match'], expected, agent);
    }
  });

  test('an authorization deny rule yields the 403 page and an access_denied audit event naming the rule', async () => {
    const { res } = await signIn(t.app, {
      username: 'jdoe',
      password: env.users.jdoe.password,
      realm: `${APP}:deny`,
    });
    assert.equal(res.status, 403);
    assert.match(res.text, /You do not have access to this application\./);
    assert.doesNotMatch(res.text, /name="wresult"|Deny Finance|S-1-5-21/);
    const denied = t.logs.events('access_denied').at(-1);
    assert.ok(denied);
    assert.equal(denied.rp, `${APP}:deny`);
    assert.equal(denied.rule, 'rule 2 "Deny Finance"');
    assert.equal(denied.upn, env.users.jdoe.upn);
    // jsmith is not in Finance: permitted by the same rules.
    const ok = await signIn(t.app, {
      username: 'jsmith',
      password: env.users.jsmith.password,
      realm: `${APP}:deny`,
    });
    await tokenOf(t, ok.res, APP_REPLY);
  });
});
