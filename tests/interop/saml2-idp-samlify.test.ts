import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as samlify from 'samlify';
import request from 'supertest';
import {
  EMAIL,
  SP_ACS,
  SP_ID,
  SP_KEY,
  SP_SLO,
  getAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { validateXsd, xmllintSchemaValidator } from '../helpers/xsd.ts';

// samlify (≥ 2.13) as an independent service provider: it reads fedgate's published metadata (the
// IDPSSODescriptor), sends a signed Redirect AuthnRequest, and parses the response with
// wantAssertionsSigned. samlify insists on a schema validator: libxml2's xmllint with the official OASIS
// SAML 2.0 schemas (tests/helpers/xsd.ts), never fedgate's own parser; signature checking is samlify's own.

samlify.setSchemaValidator(xmllintSchemaValidator);

describe('SAML 2.0 IdP with samlify as the service provider', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  let idp: ReturnType<typeof samlify.IdentityProvider>;
  let sp: ReturnType<typeof samlify.ServiceProvider>;
  before(async () => {
    t = await samlApp(
      [
        {
          file: 'samlify-sp',
          metadataXml: spMetadata(standardSp({ authnRequestsSigned: true })),
          trust: { name: 'samlify SP', nameIdFormat: EMAIL, signResponse: true },
        },
      ],
      { saml2: { requireSignedRequests: true } },
    );
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    assert.match(md.text, /WantAuthnRequestsSigned="true"/);
    idp = samlify.IdentityProvider({ metadata: md.text });
    sp = samlify.ServiceProvider({
      entityID: SP_ID,
      authnRequestsSigned: true,
      wantAssertionsSigned: true,
      wantMessageSigned: true,
      privateKey: SP_KEY,
      requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      nameIDFormat: [EMAIL],
      assertionConsumerService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: SP_ACS },
      ],
      singleLogoutService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: SP_SLO },
      ],
    });
  });
  after(async () => {
    await t.close();
  });

  test('SP-initiated Redirect sign-in: samlify verifies the signed response and assertion', async () => {
    const { id, context } = sp.createLoginRequest(idp, 'redirect');
    assert.match(context, /SigAlg=/);
    const { res } = await getAndSignIn(t.app, context);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const posted = postedSaml(res.text);
    assert.equal(posted.action, SP_ACS);
    const parsed = await sp.parseLoginResponse(idp, 'post', {
      body: { SAMLResponse: posted.SAMLResponse },
    });
    const extract = parsed.extract as {
      nameID: string;
      response: { inResponseTo: string; destination: string };
      audience: string;
      attributes: Record<string, string>;
    };
    assert.equal(extract.nameID, 'alice@fedgate.test');
    assert.equal(extract.response.inResponseTo, id);
    assert.equal(extract.response.destination, SP_ACS);
    assert.equal(extract.audience, SP_ID);
    assert.equal(
      extract.attributes['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'],
      'alice@fedgate.test',
    );
  });

  test('a response tampered after signing is refused by samlify', async () => {
    const { context } = sp.createLoginRequest(idp, 'redirect');
    const { res } = await getAndSignIn(t.app, context);
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    const tampered = xml.replace(
      'alice@fedgate.test</saml:NameID>',
      'admin@fedgate.test</saml:NameID>',
    );
    assert.notEqual(tampered, xml);
    await assert.rejects(
      sp.parseLoginResponse(idp, 'post', {
        body: { SAMLResponse: Buffer.from(tampered).toString('base64') },
      }),
    );
  });

  test('the schema validator samlify runs refuses a response fedgate did not write that way', async () => {
    const { context } = sp.createLoginRequest(idp, 'redirect');
    const { res } = await getAndSignIn(t.app, context);
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    assert.equal((await validateXsd(xml)).ok, true);
    // Status moved before Issuer: out of the order SAML Core §3.2.2 and its schema fix.
    const reordered = xml.replace(
      /(<saml:Issuer[^>]*>[^<]*<\/saml:Issuer>)([\s\S]*?)(<samlp:Status>[\s\S]*?<\/samlp:Status>)/,
      '$3$2$1',
    );
    assert.notEqual(reordered, xml);
    await assert.rejects(
      sp.parseLoginResponse(idp, 'post', {
        body: { SAMLResponse: Buffer.from(reordered).toString('base64') },
      }),
      /schema validation failed|ERR_/,
    );
  });
});
