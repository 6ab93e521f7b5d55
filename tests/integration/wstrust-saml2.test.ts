import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML2_NS,
  SAMLP_NS,
  childElements,
  certFromMetadata,
  extractAssertionFromRstr,
  parseStrict,
  validateWithNodeSaml,
  verifySaml2AssertionWithXmlCrypto,
  verifySaml2WithXmlsec1,
  type Saml2AssertionClaims,
} from '../helpers/verify.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import {
  buildRst,
  rstHeaders,
  V13,
  V2005,
  WSSE,
  type RstOptions,
  type Version,
} from '../fixtures/wstrust/rst.ts';

// WS-Trust usernamemixed issuing SAML 2.0 tokens when the RST's TokenType asks for one (issue 6), against the
// real Samba AD DC: both endpoints, both names of the SAML 2.0 token type; the bare assertion verified by
// xml-crypto and xmlsec1 with the certificate pinned from our federation metadata, and by node-saml as a
// service provider would; the RSTR's TokenType and token references as AD FS writes them.
// Lockout budget: only wstrust1, successful sign-ins only; refused requests never reach the directory.

const M365 = 'urn:federation:MicrosoftOnline';
const EXTSTS = 'https://login.microsoftonline.com/extSTS.srf';
const SAML20 = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SAML20_PROFILE = 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0';
const SAML11_PROFILE = 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1';
const SAMLID = 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID';
const SAML_ASSERTION_ID =
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID';
const WSSE11 = 'http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const PPT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

const tokenTypeRst = (uri: string): string => `<wst:TokenType>${uri}</wst:TokenType>`;

/** The RSTR's token references: [TokenType attribute, KeyIdentifier ValueType, KeyIdentifier text] each. */
function tokenReferences(doc: Document, ns: string): [string, string, string][] {
  const rstr = doc.getElementsByTagNameNS(ns, 'RequestSecurityTokenResponse')[0]!;
  return ['RequestedAttachedReference', 'RequestedUnattachedReference'].map((name) => {
    const [ref] = childElements(childElements(rstr, ns, name)[0]!);
    assert.equal(ref!.namespaceURI, WSSE);
    assert.equal(ref!.localName, 'SecurityTokenReference');
    const [keyId] = childElements(ref!, WSSE, 'KeyIdentifier');
    return [
      ref!.getAttributeNS(WSSE11, 'TokenType') ?? '',
      keyId!.getAttribute('ValueType') ?? '',
      keyId!.textContent.trim(),
    ];
  });
}

/** Wraps a bare assertion in an unsigned samlp:Response so node-saml (which only takes Responses) checks it. */
function wrapForNodeSaml(assertion: string, issuer: string): string {
  const xml =
    `<samlp:Response xmlns:samlp="${SAMLP_NS}" ID="_wrapper${crypto.randomUUID()}" Version="2.0" ` +
    `IssueInstant="${new Date().toISOString()}"><saml:Issuer xmlns:saml="${SAML2_NS}">${issuer}</saml:Issuer>` +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    `${assertion}</samlp:Response>`;
  return Buffer.from(xml, 'utf8').toString('base64');
}

describe('WS-Trust usernamemixed SAML 2.0 tokens against Active Directory (Samba AD DC)', () => {
  let env: SambaEnv;
  let t: TestApp;
  let cert: string;
  let guid: string;
  before(async () => {
    env = sambaEnv();
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
    });
    cert = certFromMetadata(
      (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
    guid = readObjectGuidWithCli(env, 'wstrust1').toString('base64');
  });
  after(async () => {
    await t.close();
  });

  const wstrust1 = (v: Version, o: Partial<RstOptions> = {}): RstOptions => ({
    version: v,
    username: env.users.wstrust1.upn,
    password: env.users.wstrust1.password,
    ...o,
  });

  async function post(o: RstOptions): Promise<request.Response> {
    return request(t.app)
      .post(o.version.path)
      .set(rstHeaders(o))
      .set('X-Forwarded-Proto', 'https')
      .send(buildRst(o));
  }

  /** The assertion as MSAL extracts it, verified by xmlsec1 and xml-crypto with the pinned certificate. */
  function verified(res: request.Response): { assertion: string; claims: Saml2AssertionClaims } {
    assert.equal(res.status, 200, res.text.slice(0, 500));
    const assertion = extractAssertionFromRstr(res.text);
    const xmlsec = verifySaml2WithXmlsec1(assertion, cert, 'assertion');
    assert.equal(xmlsec.ok, true, xmlsec.output);
    return { assertion, claims: verifySaml2AssertionWithXmlCrypto(assertion, cert) };
  }

  for (const [v, tokenType] of [
    [V13, SAML20],
    [V13, SAML20_PROFILE],
    [V2005, SAML20],
    [V2005, SAML20_PROFILE],
  ] as [Version, string][]) {
    test(`${v.path} with TokenType ${tokenType}: a verified, signed SAML 2.0 assertion in AD FS's RSTR shape`, async () => {
      const res = await post(wstrust1(v, { extraRst: tokenTypeRst(tokenType) }));
      const { claims } = verified(res);

      // The assertion: same user and issuer as the SAML 1.1 path, bearer, Audience = AppliesTo,
      // password-protected transport, no SessionIndex (no session behind an active sign-in).
      assert.equal(claims.issuer, t.config.issuerUri);
      assert.equal(claims.nameId, guid);
      assert.equal(claims.nameIdFormat, PERSISTENT);
      assert.equal(claims.audience, M365);
      assert.equal(claims.recipient, M365);
      assert.equal(claims.subjectInResponseTo, null);
      assert.ok(Date.parse(claims.subjectNotOnOrAfter) <= Date.parse(claims.notOnOrAfter));
      assert.ok(Date.parse(claims.subjectNotOnOrAfter) > Date.parse(claims.notBefore));
      assert.deepEqual(
        claims.attributes.map((a) => [a.name, a.values]),
        [['IDPEmail', [env.users.wstrust1.upn]]],
      );
      assert.equal(claims.authnContextClassRef, PPT);
      assert.equal(claims.sessionIndex, null);

      // The RSTR: TokenType echoes the request (compared raw, as MSAL does), Lifetime = the assertion's
      // validity, both references by the SAML 2.0 key identifier with the SAMLV2.0 token type.
      const doc = parseStrict(res.text);
      const rstr = doc.getElementsByTagNameNS(v.ns, 'RequestSecurityTokenResponse');
      assert.equal(rstr.length, 1);
      const text = (name: string): string => childElements(rstr[0]!, v.ns, name)[0]!.textContent;
      assert.equal(text('TokenType'), tokenType);
      assert.ok(
        res.text.includes(`TokenType>${tokenType}</`),
        'TokenType written raw, without whitespace',
      );
      assert.equal(text('RequestType'), v.requestType);
      assert.equal(text('KeyType'), v.keyType);
      const [created, expires] = childElements(childElements(rstr[0]!, v.ns, 'Lifetime')[0]!).map(
        (e) => e.textContent,
      );
      assert.equal(created, claims.notBefore);
      assert.equal(expires, claims.notOnOrAfter);
      assert.deepEqual(tokenReferences(doc, v.ns), [
        [SAML20_PROFILE, SAMLID, claims.assertionId],
        [SAML20_PROFILE, SAMLID, claims.assertionId],
      ]);
      const issued = t.logs
        .events('token_issued')
        .find((e) => e.activityId === res.headers['x-activity-id']);
      assert.ok(issued !== undefined);
      assert.equal(issued.tokenType, 'saml2');
      assert.equal(issued.assertionId, claims.assertionId);
    });
  }

  test('node-saml (as a service provider) validates the WS-Trust SAML 2.0 assertion', async () => {
    const res = await post(wstrust1(V13, { extraRst: tokenTypeRst(SAML20) }));
    const { assertion, claims } = verified(res);
    const profile = await validateWithNodeSaml(wrapForNodeSaml(assertion, claims.issuer), {
      certPem: cert,
      entityId: M365,
      callbackUrl: M365,
      idpIssuer: t.config.issuerUri,
      wantAuthnResponseSigned: false,
    });
    assert.equal(profile.issuer, t.config.issuerUri);
    assert.equal(profile.nameID, guid);
    assert.equal(profile.nameIDFormat, PERSISTENT);
    assert.equal(profile.IDPEmail, env.users.wstrust1.upn);
    // The check is real: the same assertion with its IDPEmail changed is refused.
    const forged = assertion.replace(env.users.wstrust1.upn, `admin@${env.upnSuffix}`);
    assert.notEqual(forged, assertion);
    await assert.rejects(
      validateWithNodeSaml(wrapForNodeSaml(forged, claims.issuer), {
        certPem: cert,
        entityId: M365,
        callbackUrl: M365,
        idpIssuer: t.config.issuerUri,
        wantAuthnResponseSigned: false,
      }),
      /signature/i,
    );
    assert.throws(() => verifySaml2AssertionWithXmlCrypto(forged, cert));
    assert.equal(verifySaml2WithXmlsec1(forged, cert, 'assertion').ok, false);
  });

  test('AppliesTo extSTS.srf (the Microsoft 365 alias): SAML 2.0 Audience and Recipient are extSTS.srf', async () => {
    const res = await post(
      wstrust1(V2005, { appliesTo: EXTSTS, extraRst: tokenTypeRst(SAML20_PROFILE) }),
    );
    const { claims } = verified(res);
    assert.equal(claims.audience, EXTSTS);
    assert.equal(claims.recipient, EXTSTS);
    assert.equal(claims.nameId, guid);
  });

  test('TokenType SAML 1.1 by its profile name: a SAML 1.1 token, the RSTR echoing that name', async () => {
    const res = await post(wstrust1(V13, { extraRst: tokenTypeRst(SAML11_PROFILE) }));
    assert.equal(res.status, 200, res.text.slice(0, 500));
    const doc = parseStrict(res.text);
    const rstr = doc.getElementsByTagNameNS(V13.ns, 'RequestSecurityTokenResponse')[0]!;
    assert.equal(childElements(rstr, V13.ns, 'TokenType')[0]!.textContent, SAML11_PROFILE);
    const assertion = extractAssertionFromRstr(res.text);
    assert.match(
      assertion,
      /^<saml:Assertion [^>]*xmlns:saml="urn:oasis:names:tc:SAML:1\.0:assertion"/,
    );
    const refs = tokenReferences(doc, V13.ns);
    assert.deepEqual(
      refs.map(([tt, vt]) => [tt, vt]),
      [
        [SAML11_PROFILE, SAML_ASSERTION_ID],
        [SAML11_PROFILE, SAML_ASSERTION_ID],
      ],
    );
  });

  test('an unknown TokenType still gets the InvalidRequest fault, before the directory', async () => {
    for (const v of [V13, V2005]) {
      for (const tokenType of [
        'urn:ietf:params:oauth:token-type:jwt',
        'urn:oasis:names:tc:SAML:2.0:assertionX',
        'urn:oasis:names:tc:SAML:2.0:ASSERTION',
      ]) {
        const res = await post(wstrust1(v, { extraRst: tokenTypeRst(tokenType) }));
        assert.equal(res.status, 500);
        const f = readFault(res.text);
        assert.equal(f.subcode, `{${v.ns}}InvalidRequest`, tokenType);
        assert.equal(f.activityId, res.headers['x-activity-id']);
        assert.doesNotMatch(res.text, /Assertion|RequestedSecurityToken/);
        assert.equal(
          t.logs.events('signin').filter((e) => e.activityId === f.activityId).length,
          0,
          'the directory was consulted',
        );
      }
    }
  });
});
