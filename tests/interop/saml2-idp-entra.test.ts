import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { Jar } from '../helpers/app.ts';
import {
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
  validateWithNodeSaml,
} from '../helpers/verify.ts';
import {
  ATTACKER_KEY,
  ENTRA_CERT,
  ENTRA_KEY,
  IDP_SSO,
  ISSUER,
  PERSISTENT,
  postAndSignIn,
  getAndSignIn,
  postedSaml,
  samlApp,
} from '../fixtures/saml2/harness.ts';
import { createHash, X509Certificate } from 'node:crypto';

// Microsoft 365 over SAML 2.0 (entra-protocol §2): the AuthnRequest Entra sends (unsigned, and the signed
// variant with only an SKI and KeyName MicrosoftOnline in KeyInfo, RSA-SHA1), answered with the SP-Lite
// response. Verified by xml-crypto (certificate pinned from our metadata), xmlsec1 and node-saml.

const LOGIN_SRF = 'https://login.microsoftonline.com/login.srf';
const M365 = 'urn:federation:MicrosoftOnline';

function entraRequest(id: string, opts: { destination?: boolean } = {}): string {
  return (
    `<samlp:AuthnRequest ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}"` +
    (opts.destination === true ? ` Destination="${IDP_SSO}"` : '') +
    ' xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">' +
    '<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer>' +
    '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>' +
    '</samlp:AuthnRequest>'
  );
}

/** Entra's signed shape: exc-c14n, rsa-sha1, sha1 digest, KeyInfo with X509SKI and KeyName only. */
function signLikeEntra(xml: string, key: string, cert: string): string {
  // Any SKI value will do: fedgate never looks at KeyInfo, only at the certificates in the SP's metadata.
  const skiB64 = createHash('sha1')
    .update(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const sx = new SignedXml({
    privateKey: key,
    signatureAlgorithm: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    getKeyInfoContent: () =>
      `<X509Data><X509SKI>${skiB64}</X509SKI></X509Data><KeyName>MicrosoftOnline</KeyName>`,
  });
  sx.addReference({
    xpath: "/*[local-name()='AuthnRequest']",
    transforms: [
      'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
      'http://www.w3.org/2001/10/xml-exc-c14n#',
    ],
    digestAlgorithm: 'http://www.w3.org/2000/09/xmldsig#sha1',
  });
  sx.computeSignature(xml, {
    prefix: 'ds',
    location: {
      reference: "/*[local-name()='AuthnRequest']/*[local-name()='Issuer']",
      action: 'after',
    },
  });
  return sx.getSignedXml();
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('Microsoft 365 (Entra ID) over SAML 2.0', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  let signed: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([]);
    // Entra's SP metadata, as an admin adds it for the signed-request variant.
    signed = await samlApp([
      {
        file: 'entra',
        metadataXml:
          '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:federation:MicrosoftOnline">' +
          '<SPSSODescriptor WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">' +
          `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${ENTRA_CERT.replace(/-----[^-]+-----|\s/g, '')}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>` +
          '<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://login.microsoftonline.com/login.srf"/>' +
          '<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>' +
          '<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://login.microsoftonline.com/login.srf" index="0" isDefault="true"/>' +
          '<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign" Location="https://login.microsoftonline.com/login.srf" index="1"/>' +
          '<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS" Location="https://login.microsoftonline.com/login.srf" index="2"/>' +
          '</SPSSODescriptor></EntityDescriptor>',
        trust: { allowSha1: true, nameIdFormat: PERSISTENT },
      },
    ]);
  });
  after(async () => {
    await t.close();
    await signed.close();
  });

  async function check(
    app: typeof t,
    res: { status: number; text: string },
    id: string,
  ): Promise<void> {
    assert.equal(res.status, 200, res.text.slice(0, 400));
    const posted = postedSaml(res.text);
    assert.equal(posted.action, LOGIN_SRF);
    assert.equal(posted.RelayState, 'estsrelay');
    const xml = Buffer.from(posted.SAMLResponse!, 'base64').toString('utf8');
    const view = verifySaml2ResponseWithXmlCrypto(xml, app.idpCert);
    assert.equal(view.destination, LOGIN_SRF);
    assert.equal(view.inResponseTo, id);
    assert.equal(view.consent, 'urn:oasis:names:tc:SAML:2.0:consent:unspecified');
    assert.equal(view.statusCode, 'urn:oasis:names:tc:SAML:2.0:status:Success');
    const a = view.assertion;
    assert.equal(a.issuer, ISSUER);
    assert.equal(a.nameIdFormat, PERSISTENT);
    assert.match(
      a.nameId ?? '',
      /^[A-Za-z0-9+/]{22}==$/,
      'NameID = ImmutableID (base64 objectGUID)',
    );
    assert.equal(a.recipient, LOGIN_SRF);
    assert.equal(a.subjectInResponseTo, id);
    assert.equal(a.audience, M365);
    assert.deepEqual(
      a.attributes.map((x) => [x.name, x.values]),
      [['IDPEmail', ['alice@fedgate.test']]],
    );
    assert.equal(
      a.authnContextClassRef,
      'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
    );
    assert.ok(a.sessionIndex !== null);
    assert.ok(verifySaml2WithXmlsec1(xml, app.idpCert, 'assertion').ok, 'xmlsec1 verifies');
    const profile = await validateWithNodeSaml(posted.SAMLResponse!, {
      certPem: app.idpCert,
      entityId: M365,
      callbackUrl: LOGIN_SRF,
      idpIssuer: ISSUER,
      wantAuthnResponseSigned: false,
      outstandingRequestIds: [id],
    });
    assert.equal(profile.nameID, a.nameId);
  }

  test('the unsigned AuthnRequest Entra sends, HTTP-POST binding: SP-Lite response to login.srf', async () => {
    const id = `_${crypto.randomUUID()}`;
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: b64(entraRequest(id)),
      RelayState: 'estsrelay',
    });
    await check(t, res, id);
  });

  test('the same request with the HTTP-Redirect binding', async () => {
    const id = `_${crypto.randomUUID()}`;
    const q = new URLSearchParams({
      SAMLRequest: deflateRawSync(entraRequest(id)).toString('base64'),
      RelayState: 'estsrelay',
    });
    const { res } = await getAndSignIn(t.app, `${IDP_SSO}?${q.toString()}`);
    await check(t, res, id);
  });

  test('the signed variant (SKI + KeyName only, RSA-SHA1) verifies with the key from Entra metadata', async () => {
    const id = `_${crypto.randomUUID()}`;
    const xml = signLikeEntra(entraRequest(id, { destination: true }), ENTRA_KEY, ENTRA_CERT);
    assert.match(xml, /<ds:KeyName>MicrosoftOnline<\/ds:KeyName>|KeyName>MicrosoftOnline/);
    const { res } = await postAndSignIn(signed.app, {
      SAMLRequest: b64(xml),
      RelayState: 'estsrelay',
    });
    await check(signed, res, id);
  });

  test('the signed variant made with another key is refused with a local error page', async () => {
    const id = `_${crypto.randomUUID()}`;
    const xml = signLikeEntra(entraRequest(id, { destination: true }), ATTACKER_KEY, ENTRA_CERT);
    const jar = new Jar();
    const { res } = await postAndSignIn(
      signed.app,
      { SAMLRequest: b64(xml), RelayState: 'estsrelay' },
      jar,
    );
    assert.equal(res.status, 400);
    assert.match(res.text, /signature could not be verified/);
    assert.doesNotMatch(res.text, /SAMLResponse|AuthState/);
    assert.match(res.text, /id="activityId">[0-9a-f-]{36}</);
  });
});
