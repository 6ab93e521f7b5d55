// Issue 14 §8: rule sets written the way admins write them. A relying party whose rules issue no nameidentifier
// (SharePoint-style UPN/e-mail/role claims, group roles only, nothing at all, a copy of a claim the user does not
// have) gets what AD FS issues: SAML 1.1 with a Subject of SubjectConfirmation only, SAML 2.0 without NameID, or
// InvalidNameIDPolicy when the AuthnRequest demanded a format the rules did not give. Rules that cannot become a
// token (a rule that explodes at run time, a value XML cannot carry, Microsoft 365 without ImmutableID) end in an
// audited issuance_failed: a 403 page with the activity id, or a WS-Trust MSIS3127 fault, never a 500.
// Tokens are checked by xml-crypto (certificate pinned from our metadata) and xmlsec1, never by fedgate's code.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { DEMO_DIRECTORY } from '../../server/directory/demo-directory.ts';
import { hidden, makeTestApp, signIn } from '../helpers/app.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifySaml2AssertionWithXmlCrypto,
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';
import {
  ALICE,
  EMAIL,
  PERSISTENT,
  SP_ACS,
  authnRequestXml,
  b64,
  postAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import { buildRst, rstHeaders, V13 } from '../fixtures/wstrust/rst.ts';

const T = {
  wan: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
  groupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  nameId: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  format: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format',
};
const FINANCE_SID = 'S-1-5-21-3623811015-3361044348-30300820-1201';

/** The rule sets, as the AD FS rule templates write them (Get-AdfsRelyingPartyTrust … IssuanceTransformRules). */
const RULES: Record<string, string> = {
  // "Send LDAP Attributes as Claims" for a SharePoint-style application: keyed on UPN and e-mail, roles.
  sharepoint: `@RuleTemplate = "LdapClaims"
@RuleName = "SharePoint claims"
c:[Type == "${T.wan}", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("${T.upn}", "${T.email}", "${T.role}"), query = ";userPrincipalName,mail,tokenGroups;{0}", param = c.Value);
`,
  // "Send Group Membership as a Claim": one role, nothing else.
  groups: `@RuleTemplate = "EmitGroupClaims"
@RuleName = "Finance members"
c:[Type == "${T.groupSid}", Value == "${FINANCE_SID}", Issuer == "AD AUTHORITY"]
 => issue(Type = "${T.role}", Value = "Finance", Issuer = c.Issuer, OriginalIssuer = c.OriginalIssuer, ValueType = c.ValueType);
`,
  // A trust created with no rules yet (Set-AdfsRelyingPartyTrust -IssuanceTransformRules "").
  nothing: '',
  // "Pass Through or Filter an Incoming Claim" for a claim this user does not have.
  missing: `@RuleTemplate = "PassThroughClaims"
@RuleName = "Pass through the employee id"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/employeeid"]
 => issue(claim = c);
@RuleTemplate = "PassThroughClaims"
@RuleName = "Pass through account name"
c:[Type == "${T.wan}", Issuer == "AD AUTHORITY"]
 => issue(claim = c);
`,
  // "Transform an Incoming Claim": e-mail → Name ID in e-mail format.
  email: `@RuleTemplate = "LdapClaims"
@RuleName = "E-mail"
c:[Type == "${T.wan}", Issuer == "AD AUTHORITY"]
 => add(store = "Active Directory", types = ("${T.email}"), query = ";mail;{0}", param = c.Value);
@RuleTemplate = "MapClaims"
@RuleName = "E-mail to Name ID"
c:[Type == "${T.email}"]
 => issue(Type = "${T.nameId}", Issuer = c.Issuer, OriginalIssuer = c.OriginalIssuer, Value = c.Value, ValueType = c.ValueType, Properties["${T.format}"] = "${EMAIL}");
`,
  // A custom rule whose selectors multiply (every claim with every claim, four times): fine in the editor,
  // more firings than the evaluator allows at sign-in (server/claims/evaluator.ts MAX_FIRINGS_PER_RULE).
  explodes: `@RuleName = "Pairs"
c1:[] && c2:[] && c3:[] && c4:[] => issue(Type = "urn:pairs", Value = "x");
`,
};

const dir = mkdtempSync(join(tmpdir(), 'fedgate-rulesets-'));
for (const [name, text] of Object.entries(RULES)) writeFileSync(join(dir, `${name}.rules`), text);
const REPLY = 'https://app.rulesets.test/signin';
const realm = (name: string): string => `urn:fedgate:test:rules:${name}`;

async function idpCert(app: Parameters<typeof request>[0]): Promise<string> {
  const md = await request(app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
  const [cert] = certFromMetadata(md.text);
  assert.ok(cert);
  return cert;
}

/** The assertion in a WS-Fed token page, verified by xml-crypto and xmlsec1 against our published certificate. */
function wsfedToken(res: request.Response, cert: string): Saml11Claims {
  assert.equal(res.status, 200, res.text.slice(0, 400));
  const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.ok(xmlsec.ok, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

/** Asserts the audited issuance_failed outcome: 403 page with the activity id, an audit line naming the party. */
function assertIssuanceFailedPage(
  res: request.Response,
  logs: { events(n: string): Record<string, unknown>[] },
  rp: string,
): void {
  assert.equal(res.status, 403, res.text.slice(0, 400));
  const activityId = res.headers['x-activity-id'];
  assert.ok(typeof activityId === 'string' && activityId.length > 0);
  assert.ok(res.text.includes(activityId), 'the page shows the activity id');
  assert.match(res.text, /could not be issued for your account/);
  assert.doesNotMatch(res.text, /Error:|\bat \w+ \(|node_modules|stack|rules:\d|Pairs/);
  const ev = logs.events('issuance_failed').find((e) => e.activityId === activityId);
  assert.ok(ev, 'an issuance_failed audit line for this request');
  assert.equal(ev.rp, rp);
  assert.equal(ev.eventId, 1201);
  assert.equal(ev.upn, ALICE.username);
}

describe('WS-Federation (SAML 1.1) and WS-Trust with admin-written rule sets', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  let cert: string;
  before(async () => {
    // A hostile display name for the "value XML cannot carry" case: a control character from the directory.
    const users = DEMO_DIRECTORY.users.map((u) =>
      u.sAMAccountName === 'bob' ? { ...u, displayName: 'Bob\u0001Brown' } : u,
    );
    const file = join(dir, 'users.yaml');
    writeFileSync(file, stringify({ ...DEMO_DIRECTORY, users }));
    t = await samlApp([], {
      directory: { kind: 'embedded', file },
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      relyingParties: [
        ...Object.keys(RULES).map((name) => ({
          identifier: realm(name),
          name: `Rules ${name}`,
          replyUrls: [REPLY],
          issuanceRulesFile: join(dir, `${name}.rules`),
        })),
        // The shipped generic rules issue the display name: bob's carries U+0001.
        { identifier: realm('generic'), name: 'Generic', replyUrls: [REPLY] },
      ],
    });
    cert = await idpCert(t.app);
  });
  after(async () => {
    await t.close();
  });

  test('UPN/e-mail/role rules: a token whose Subject has no NameIdentifier, claims as issued', async () => {
    const { res } = await signIn(t.app, { ...ALICE, realm: realm('sharepoint') });
    const c = wsfedToken(res, cert);
    assert.equal(c.nameIdentifier, null);
    assert.equal(c.audience, realm('sharepoint'));
    assert.deepEqual(c.attributes[T.upn], [ALICE.username]);
    assert.deepEqual(c.attributes[T.email], ['alice@fedgate.test']);
    assert.ok((c.attributes[T.role] ?? []).includes('Finance'), JSON.stringify(c.attributes));
    // The audit line says a token was issued, with no 5xx and no issuance failure.
    assert.equal(t.logs.events('issuance_failed').length, 0);
  });

  test('a group role only, no rules at all, a copy of a claim the user lacks: each a verified token without NameIdentifier', async () => {
    for (const [name, expected] of [
      ['groups', { [T.role]: ['Finance'] }],
      ['nothing', {}],
      ['missing', { [T.wan]: ['FEDGATE\\alice'] }],
    ] as const) {
      const { res } = await signIn(t.app, { ...ALICE, realm: realm(name) });
      const c = wsfedToken(res, cert);
      assert.equal(c.nameIdentifier, null, name);
      assert.deepEqual(c.attributes, expected, name);
    }
  });

  test('a transform to Name ID with the e-mail format: NameIdentifier and Format as the rule says (positive control)', async () => {
    const { res } = await signIn(t.app, { ...ALICE, realm: realm('email') });
    const c = wsfedToken(res, cert);
    assert.equal(c.nameIdentifier, 'alice@fedgate.test');
    assert.equal(c.nameIdentifierFormat, EMAIL);
  });

  test('a rule that explodes at run time: audited issuance_failed 403 with the activity id, not a 500', async () => {
    const { res } = await signIn(t.app, { ...ALICE, realm: realm('explodes') });
    assertIssuanceFailedPage(res, t.logs, realm('explodes'));
    const ev = t.logs.events('issuance_failed').at(-1);
    assert.match(String(ev?.reason), /explodes\.rules.*Pairs/);
  });

  test('a directory value XML cannot carry: audited issuance_failed 403, the value in no log line', async () => {
    const { res } = await signIn(t.app, {
      username: 'bob@fedgate.test',
      password: ALICE.password,
      realm: realm('generic'),
    });
    assert.equal(res.status, 403, res.text.slice(0, 300));
    const activityId = String(res.headers['x-activity-id']);
    assert.ok(res.text.includes(activityId));
    const ev = t.logs.events('issuance_failed').find((e) => e.activityId === activityId);
    assert.ok(ev);
    assert.equal(ev.rp, realm('generic'));
    assert.ok(!t.logs.raw.some((l) => l.includes('Bob\\u0001Brown')), 'the value is not logged');
  });

  async function rst(appliesTo: string): Promise<request.Response> {
    const o = { version: V13, ...ALICE, appliesTo, now: new Date() };
    let r = request(t.app).post(V13.path);
    for (const [k, v] of Object.entries(rstHeaders(o))) r = r.set(k, v);
    return r.set('X-Forwarded-Proto', 'https').send(buildRst(o));
  }

  test('WS-Trust: UPN/e-mail/role rules give a verified SAML 1.1 token without NameIdentifier', async () => {
    const res = await rst(realm('sharepoint'));
    assert.equal(res.status, 200, res.text.slice(0, 400));
    const assertion = extractAssertionFromRstr(res.text);
    assert.ok(verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR).ok);
    const c = verifySaml11WithXmlCrypto(assertion, cert);
    assert.equal(c.nameIdentifier, null);
    assert.deepEqual(c.attributes[T.upn], [ALICE.username]);
  });

  test('WS-Trust: SAML 2.0 token type without a NameID, verified', async () => {
    const o = {
      version: V13,
      ...ALICE,
      appliesTo: realm('groups'),
      now: new Date(),
      extraRst: '<wst:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</wst:TokenType>',
    };
    let r = request(t.app).post(V13.path);
    for (const [k, v] of Object.entries(rstHeaders(o))) r = r.set(k, v);
    const res = await r.set('X-Forwarded-Proto', 'https').send(buildRst(o));
    assert.equal(res.status, 200, res.text.slice(0, 400));
    const assertion = extractAssertionFromRstr(res.text);
    const a = verifySaml2AssertionWithXmlCrypto(assertion, cert);
    assert.equal(a.nameId, null);
    assert.deepEqual(
      a.attributes.filter((x) => x.name === T.role).map((x) => x.values),
      [['Finance']],
    );
    assert.ok(verifySaml2WithXmlsec1(assertion, cert, 'assertion').ok);
  });

  test('WS-Trust: a rule that explodes gives the MSIS3127 RequestFailed fault (Sender), audited', async () => {
    const res = await rst(realm('explodes'));
    assert.equal(res.status, 500); // every WS-Trust fault is HTTP 500, as AD FS sends them (soap.ts)
    const f = readFault(res.text);
    assert.equal(f.code, '{http://www.w3.org/2003/05/soap-envelope}Sender');
    assert.match(f.reason, /MSIS3127/);
    assert.equal(f.activityId, res.headers['x-activity-id']);
    const ev = t.logs.events('issuance_failed').find((e) => e.activityId === f.activityId);
    assert.ok(ev);
    assert.equal(ev.protocol, 'wstrust');
    assert.ok(
      !t.logs.lines.some((l) => l.activityId === f.activityId && l.level === 50),
      'no error-level log line: the rule set is at fault, not the server',
    );
  });
});

describe('SAML 2.0 with admin-written rule sets', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  let cert: string;
  const SP = standardSp({ nameIdFormats: [] });
  before(async () => {
    t = await samlApp([
      {
        file: 'sp',
        metadataXml: spMetadata(SP),
        trust: { issuanceRulesFile: join(dir, 'sharepoint.rules') },
      },
      {
        file: 'sp2',
        metadataXml: spMetadata({
          ...SP,
          entityId: 'https://sp2.rulesets.test',
          acs: [{ location: 'https://sp2.rulesets.test/acs', index: 0, isDefault: true }],
        }),
        trust: { issuanceRulesFile: join(dir, 'email.rules') },
      },
      {
        file: 'sp3',
        metadataXml: spMetadata({
          ...SP,
          entityId: 'https://sp3.rulesets.test',
          acs: [{ location: 'https://sp3.rulesets.test/acs', index: 0, isDefault: true }],
        }),
        trust: { issuanceRulesFile: join(dir, 'explodes.rules') },
      },
    ]);
    cert = t.idpCert;
  });
  after(async () => {
    await t.close();
  });

  const response = (res: request.Response): string => {
    assert.equal(res.status, 200, res.text.slice(0, 400));
    return Buffer.from(postedSaml(res.text).SAMLResponse ?? '', 'base64').toString('utf8');
  };

  test('no NameIDPolicy (and unspecified): Success, an assertion without NameID, verified by xml-crypto and xmlsec1', async () => {
    for (const nameIdFormat of [
      undefined,
      'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    ]) {
      const { res } = await postAndSignIn(t.app, {
        SAMLRequest: b64(authnRequestXml(nameIdFormat === undefined ? {} : { nameIdFormat })),
      });
      const xml = response(res);
      const view = verifySaml2ResponseWithXmlCrypto(xml, cert);
      assert.equal(view.statusCode, 'urn:oasis:names:tc:SAML:2.0:status:Success');
      assert.equal(view.destination, SP_ACS);
      assert.equal(view.assertion.nameId, null);
      assert.deepEqual(view.assertion.attributes.find((a) => a.name === T.upn)?.values, [
        ALICE.username,
      ]);
      assert.ok(verifySaml2WithXmlsec1(xml, cert, 'assertion').ok);
    }
  });

  test('NameIDPolicy demanding a format the rules did not give: InvalidNameIDPolicy at the ACS, no assertion', async () => {
    for (const nameIdFormat of [EMAIL, PERSISTENT]) {
      const { res } = await postAndSignIn(t.app, {
        SAMLRequest: b64(authnRequestXml({ nameIdFormat })),
      });
      const xml = response(res);
      assert.equal(postedSaml(res.text).action, SP_ACS);
      assert.match(xml, /status:Requester/);
      assert.match(xml, /status:InvalidNameIDPolicy/);
      assert.doesNotMatch(xml, /<saml:Assertion /);
      assert.ok(verifySaml2WithXmlsec1(xml, cert, 'response').ok);
    }
  });

  test('NameIDPolicy e-mail with rules that issue an e-mail Name ID: Success with that NameID (positive control)', async () => {
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: b64(
        authnRequestXml({
          issuer: 'https://sp2.rulesets.test',
          nameIdFormat: EMAIL,
        }),
      ),
    });
    const view = verifySaml2ResponseWithXmlCrypto(response(res), cert);
    assert.equal(view.statusCode, 'urn:oasis:names:tc:SAML:2.0:status:Success');
    assert.equal(view.assertion.nameId, 'alice@fedgate.test');
    assert.equal(view.assertion.nameIdFormat, EMAIL);
  });

  test('a rule that explodes: audited issuance_failed 403 page, nothing posted to the SP', async () => {
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: b64(authnRequestXml({ issuer: 'https://sp3.rulesets.test' })),
    });
    assertIssuanceFailedPage(res, t.logs, 'https://sp3.rulesets.test');
    assert.doesNotMatch(res.text, /SAMLResponse/);
  });
});

describe('Microsoft 365 without an ImmutableID: audited issuance_failed, not a 500', () => {
  test('rules that issue no ImmutableID for Entra ID end in the 403 page with the activity id', async () => {
    const m365 = join(dir, 'm365-no-immutableid.rules');
    writeFileSync(
      m365,
      `@RuleName = "UPN only"
c:[Type == "${T.wan}", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("http://schemas.xmlsoap.org/claims/UPN"), query = ";userPrincipalName;{0}", param = c.Value);
`,
    );
    const t = await samlApp([], {
      microsoft365: { federatedDomains: ['fedgate.test'], issuanceRulesFile: m365 },
    });
    try {
      const { res } = await signIn(t.app, { ...ALICE });
      assertIssuanceFailedPage(res, t.logs, 'urn:federation:MicrosoftOnline');
    } finally {
      await t.close();
    }
  });
});

describe('against the Samba AD DC: SharePoint-style rules over LDAP', () => {
  test('UPN, e-mail and group roles from the real directory, a verified token without NameIdentifier', async () => {
    const env = sambaEnv();
    const t = await makeTestApp({
      directory: sambaLdapConfig(env),
      relyingParties: [
        {
          identifier: realm('sharepoint'),
          name: 'SharePoint',
          replyUrls: [REPLY],
          issuanceRulesFile: join(dir, 'sharepoint.rules'),
        },
      ],
    });
    try {
      // Right password only: this file spends none of jdoe's lockout budget.
      const { res } = await signIn(t.app, {
        username: 'jdoe',
        password: env.users.jdoe.password,
        realm: realm('sharepoint'),
      });
      const c = wsfedToken(res, await idpCert(t.app));
      assert.equal(c.nameIdentifier, null);
      assert.deepEqual(c.attributes[T.upn], [env.users.jdoe.upn]);
      assert.ok((c.attributes[T.role] ?? []).length > 0, 'tokenGroups became roles');
    } finally {
      await t.close();
    }
  });
});
