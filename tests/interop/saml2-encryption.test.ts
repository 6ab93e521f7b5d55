import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import * as samlify from 'samlify';
import request from 'supertest';
import { parseXmlStrict } from '../../server/lib/xml-parse.ts';
import {
  EMAIL,
  IDP_SSO,
  ISSUER,
  SP_KEY,
  certBody,
  getAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { ENC_CERT, ENC_KEY, withEncryptionKey } from '../fixtures/saml2/encryption.ts';
import {
  verifySaml2AssertionWithXmlCrypto,
  verifySaml2WithXmlsec1,
  verifyWithXmlsec1,
  SAML2_ASSERTION_ID_ATTR,
} from '../helpers/verify.ts';

// Assertion encryption (issue 5 §2) checked by service providers no one here wrote: @node-saml/node-saml
// (xml-encryption) and samlify (@authenio/xml-encryption) decrypt with the SP's private key and then apply their
// strict checks (signed assertion required, audience, InResponseTo); xmlsec1 (libxmlsec/OpenSSL) decrypts
// independently of any Node code, and the decrypted assertion's signature verifies with xml-crypto and xmlsec1.

const UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const CBC = 'http://www.w3.org/2001/04/xmlenc#aes256-cbc';
const OAEP = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

/** An SP entity with its own ACS (one trust per case). */
function sp(n: string): { id: string; acs: string; slo: string } {
  return {
    id: `https://enc-${n}.fedgate.test/saml`,
    acs: `https://enc-${n}.fedgate.test/saml/acs`,
    slo: `https://enc-${n}.fedgate.test/saml/slo`,
  };
}
const SP_GCM = sp('gcm');
const SP_GCM_SIGNED_RESPONSE = sp('signed-response');
const SP_CBC = sp('cbc');
const SP_SAYS_CBC = sp('says-cbc');
const SP_NO_USE = sp('no-use');
const SP_SAMLIFY = sp('samlify');

function metadataFor(
  s: { id: string; acs: string; slo: string },
  o: { use?: 'encryption' | null; methods?: string[]; signedRequests?: boolean } = {},
): string {
  return withEncryptionKey(
    spMetadata(
      standardSp({
        entityId: s.id,
        acs: [{ location: s.acs, index: 0, isDefault: true }],
        slo: [{ location: s.slo, binding: 'redirect' }],
        authnRequestsSigned: o.signedRequests ?? true,
      }),
    ),
    ENC_CERT,
    o,
  );
}

type App = Awaited<ReturnType<typeof samlApp>>;

function nodeSamlSp(
  t: App,
  s: { id: string; acs: string },
  o: { signResponse?: boolean; decrypt?: boolean } = {},
): SAML {
  return new SAML({
    entryPoint: IDP_SSO,
    callbackUrl: s.acs,
    issuer: s.id,
    audience: s.id,
    idpCert: t.idpCert,
    idpIssuer: ISSUER,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: o.signResponse === true,
    privateKey: SP_KEY,
    ...(o.decrypt === false ? {} : { decryptionPvk: ENC_KEY }),
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: EMAIL,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 0,
  });
}

/** Signs in through node-saml's signed Redirect AuthnRequest; returns the posted Response XML and base64. */
async function signInWith(
  t: App,
  client: SAML,
  acs: string,
): Promise<{ b64: string; xml: string; relay: string | undefined }> {
  const { res } = await getAndSignIn(
    t.app,
    await client.getAuthorizeUrlAsync('r-1', undefined, {}),
  );
  assert.equal(res.status, 200, res.text.slice(0, 500));
  const posted = postedSaml(res.text);
  assert.equal(posted.action, acs);
  const b64 = posted.SAMLResponse ?? '';
  return { b64, xml: Buffer.from(b64, 'base64').toString('utf8'), relay: posted.RelayState };
}

/** Shape of the encrypted Response: EncryptedAssertion only, the content and key-transport algorithms. */
function assertEncryptedShape(xml: string, contentAlgorithm: string): void {
  const doc = parseXmlStrict(xml, { maxLength: 1024 * 1024 });
  const root = doc.documentElement;
  const kids = Array.from(root.childNodes).filter((n) => n.nodeType === 1) as Element[];
  assert.deepEqual(
    kids.map((k) => k.localName).filter((n) => n !== 'Signature'),
    ['Issuer', 'Status', 'EncryptedAssertion'],
  );
  assert.equal(
    doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Assertion').length,
    0,
  );
  const methods = Array.from(
    doc.getElementsByTagNameNS('http://www.w3.org/2001/04/xmlenc#', 'EncryptionMethod'),
  ).map((e) => e.getAttribute('Algorithm'));
  assert.deepEqual(methods, [contentAlgorithm, OAEP]);
  // The SP's own certificate names the key the content key was encrypted to.
  assert.ok(xml.includes(certBody(ENC_CERT)));
}

/** xmlsec1 --decrypt with the SP's key: the decrypted document (whole Response, EncryptedData replaced). */
function decryptWithXmlsec1(xml: string, keyPem: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-xmlsec1-dec-'));
  try {
    writeFileSync(join(dir, 'in.xml'), xml);
    writeFileSync(join(dir, 'key.pem'), keyPem);
    const r = spawnSync(
      'xmlsec1',
      [
        '--decrypt',
        '--privkey-pem',
        join(dir, 'key.pem'),
        '--output',
        join(dir, 'out.xml'),
        join(dir, 'in.xml'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) return { ok: false, output: `${r.stdout}${r.stderr}` };
    return { ok: true, output: readFileSync(join(dir, 'out.xml'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

samlify.setSchemaValidator({
  validate: (xml: string) => {
    parseXmlStrict(xml, { maxLength: 1024 * 1024 });
    return Promise.resolve('ok');
  },
});

describe('SAML 2.0 assertion encryption, decrypted by independent service providers', () => {
  let t: App;
  before(async () => {
    t = await samlApp([
      { file: 'enc-gcm', metadataXml: metadataFor(SP_GCM), trust: { nameIdFormat: EMAIL } },
      {
        file: 'enc-signed-response',
        metadataXml: metadataFor(SP_GCM_SIGNED_RESPONSE),
        trust: { nameIdFormat: EMAIL, signResponse: true },
      },
      {
        file: 'enc-cbc',
        metadataXml: metadataFor(SP_CBC),
        trust: { nameIdFormat: EMAIL, encryptionAlgorithms: ['aes256-cbc'] },
      },
      {
        // The SP lists only CBC (md:EncryptionMethod); the trust allows both, GCM first: CBC is chosen.
        file: 'enc-says-cbc',
        metadataXml: metadataFor(SP_SAYS_CBC, { methods: [CBC, OAEP] }),
        trust: { nameIdFormat: EMAIL, encryptionAlgorithms: ['aes256-gcm', 'aes256-cbc'] },
      },
      {
        file: 'enc-no-use',
        metadataXml: metadataFor(SP_NO_USE, { use: null }),
        trust: { nameIdFormat: EMAIL },
      },
      {
        file: 'enc-samlify',
        // samlify refuses to sign requests to an IdP whose metadata does not ask for signed requests.
        metadataXml: metadataFor(SP_SAMLIFY, { signedRequests: false }),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  test('node-saml (decryptionPvk, strict) accepts the AES-256-GCM encrypted, signed assertion and reads the attributes', async () => {
    const client = nodeSamlSp(t, SP_GCM);
    const { b64, xml, relay } = await signInWith(t, client, SP_GCM.acs);
    assert.equal(relay, 'r-1');
    assertEncryptedShape(xml, GCM);
    const { profile } = await client.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.ok(profile);
    assert.equal(profile.issuer, ISSUER);
    assert.equal(profile.nameID, 'alice@fedgate.test');
    assert.equal(profile.nameIDFormat, EMAIL);
    assert.equal(profile[UPN], 'alice@fedgate.test');
    const issued = t.logs.events('token_issued').at(-1);
    assert.equal(issued?.rp, SP_GCM.id);
    assert.equal(issued.encrypted, 'aes256-gcm');
  });

  test('node-saml without the decryption key refuses the encrypted assertion (the key is really needed)', async () => {
    const client = nodeSamlSp(t, SP_GCM, { decrypt: false });
    const { b64 } = await signInWith(t, client, SP_GCM.acs);
    await assert.rejects(client.validatePostResponseAsync({ SAMLResponse: b64 }), /decrypt/i);
  });

  test('signed Response around the EncryptedAssertion: node-saml (wantAuthnResponseSigned) and xmlsec1 verify it', async () => {
    const client = nodeSamlSp(t, SP_GCM_SIGNED_RESPONSE, { signResponse: true });
    const { b64, xml } = await signInWith(t, client, SP_GCM_SIGNED_RESPONSE.acs);
    assertEncryptedShape(xml, GCM);
    const r = verifySaml2WithXmlsec1(xml, t.idpCert, 'response');
    assert.ok(r.ok, r.output);
    const { profile } = await client.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
    assert.equal(profile[UPN], 'alice@fedgate.test');
  });

  test('AES-256-CBC when the trust allows only CBC: node-saml decrypts and accepts', async () => {
    const client = nodeSamlSp(t, SP_CBC);
    const { b64, xml } = await signInWith(t, client, SP_CBC.acs);
    assertEncryptedShape(xml, CBC);
    const { profile } = await client.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.[UPN], 'alice@fedgate.test');
  });

  test('the SP metadata lists only CBC: the first allowed algorithm it supports is used', async () => {
    const client = nodeSamlSp(t, SP_SAYS_CBC);
    const { b64, xml } = await signInWith(t, client, SP_SAYS_CBC.acs);
    assertEncryptedShape(xml, CBC);
    const { profile } = await client.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
  });

  test('a KeyDescriptor without use is an encryption key too', async () => {
    const client = nodeSamlSp(t, SP_NO_USE);
    const { b64, xml } = await signInWith(t, client, SP_NO_USE.acs);
    assertEncryptedShape(xml, GCM);
    const { profile } = await client.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
  });

  test('xmlsec1 decrypts GCM and CBC independently; the decrypted assertion signature verifies (xml-crypto, xmlsec1)', async () => {
    for (const [s, alg] of [
      [SP_GCM, GCM],
      [SP_CBC, CBC],
    ] as const) {
      const { xml } = await signInWith(t, nodeSamlSp(t, s), s.acs);
      assertEncryptedShape(xml, alg);
      const wrongKey = decryptWithXmlsec1(xml, SP_KEY);
      assert.equal(wrongKey.ok, false, 'another key cannot decrypt');
      const d = decryptWithXmlsec1(xml, ENC_KEY);
      assert.ok(d.ok, d.output);
      const m = /<saml:Assertion [\s\S]*<\/saml:Assertion>/.exec(d.output);
      assert.ok(m, 'decrypted output holds the assertion');
      const claims = verifySaml2AssertionWithXmlCrypto(m[0], t.idpCert);
      assert.equal(claims.audience, s.id);
      assert.equal(claims.recipient, s.acs);
      const x = verifyWithXmlsec1(m[0], t.idpCert, SAML2_ASSERTION_ID_ATTR);
      assert.ok(x.ok, x.output);
    }
  });

  test('samlify as SP (isAssertionEncrypted, encPrivateKey, wantAssertionsSigned) decrypts and verifies', async () => {
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    // samlify reads "decrypt the assertion" from the IdP entity's setting, the key from the SP's.
    const idp = samlify.IdentityProvider({ metadata: md.text, isAssertionEncrypted: true });
    const client = samlify.ServiceProvider({
      entityID: SP_SAMLIFY.id,
      authnRequestsSigned: false,
      wantAssertionsSigned: true,
      isAssertionEncrypted: true,
      encPrivateKey: ENC_KEY,
      encryptCert: ENC_CERT,
      nameIDFormat: [EMAIL],
      assertionConsumerService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: SP_SAMLIFY.acs },
      ],
    });
    const { id, context } = client.createLoginRequest(idp, 'redirect');
    const { res } = await getAndSignIn(t.app, context);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const posted = postedSaml(res.text);
    assertEncryptedShape(Buffer.from(posted.SAMLResponse ?? '', 'base64').toString('utf8'), GCM);
    const parsed = await client.parseLoginResponse(idp, 'post', {
      body: { SAMLResponse: posted.SAMLResponse },
    });
    const extract = parsed.extract as {
      nameID: string;
      response: { inResponseTo: string };
      audience: string;
      attributes: Record<string, string>;
    };
    assert.equal(extract.nameID, 'alice@fedgate.test');
    assert.equal(extract.response.inResponseTo, id);
    assert.equal(extract.audience, SP_SAMLIFY.id);
    assert.equal(extract.attributes[UPN], 'alice@fedgate.test');
  });
});
