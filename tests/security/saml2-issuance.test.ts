import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { DEMO_DIRECTORY } from '../../server/directory/demo-directory.ts';
import { verifySaml2ResponseWithXmlCrypto, verifySaml2WithXmlsec1 } from '../helpers/verify.ts';
import {
  EMAIL,
  IDP_SSO,
  SP_ACS,
  SP_ID,
  postAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// Corpus B5.1 / A8: directory values carrying markup come out of the issued SAML 2.0 token byte-exact, and the
// attribute set is exactly what the rules issue (no attribute smuggled in through a value). Checked with
// xml-crypto (pinned certificate from our metadata, claims read from the verified canonical bytes) and xmlsec1.

const HOSTILE = {
  displayName:
    'user</saml:AttributeValue></saml:Attribute><saml:Attribute Name="admin"><saml:AttributeValue>true',
  givenName: 'a & b "c" <d> ]]> <!-- x --> {Audience} ${NameID}',
  surname: "O'Brien\u2028line\ttab",
};

describe('SAML 2.0 issuance: AD values with markup (B5.1)', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-dir-'));
    const users = DEMO_DIRECTORY.users.map((u) =>
      u.sAMAccountName === 'alice' ? { ...u, ...HOSTILE } : u,
    );
    const file = join(dir, 'users.yaml');
    writeFileSync(file, stringify({ ...DEMO_DIRECTORY, users }));
    t = await samlApp(
      [{ file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } }],
      { directory: { kind: 'embedded', file } },
    );
  });
  after(async () => {
    await t.close();
  });

  test('values byte-exact, attribute count unchanged, signature verifies (xml-crypto, xmlsec1)', async () => {
    const id = `_${crypto.randomUUID()}`;
    const req =
      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
      `<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${SP_ID}</saml:Issuer></samlp:AuthnRequest>`;
    const { res } = await postAndSignIn(t.app, {
      SAMLRequest: Buffer.from(req).toString('base64'),
    });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const xml = Buffer.from(postedSaml(res.text).SAMLResponse!, 'base64').toString('utf8');
    const view = verifySaml2ResponseWithXmlCrypto(xml, t.idpCert);
    assert.equal(view.destination, SP_ACS);
    assert.equal(view.inResponseTo, id);
    const attrs = view.assertion.attributes;
    const byName = (n: string): string[] | undefined =>
      attrs.find((a) => a.name === `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/${n}`)
        ?.values;
    assert.deepEqual(byName('name'), [HOSTILE.displayName]);
    assert.deepEqual(byName('givenname'), [HOSTILE.givenName]);
    assert.deepEqual(byName('surname'), [HOSTILE.surname]);
    assert.ok(!attrs.some((a) => a.name === 'admin'), 'no smuggled attribute');
    assert.equal(
      new Set(attrs.map((a) => a.name)).size,
      attrs.length,
      'one Attribute per claim type',
    );
    assert.equal((xml.match(/<saml:Attribute /g) ?? []).length, attrs.length);
    assert.ok(verifySaml2WithXmlsec1(xml, t.idpCert, 'assertion').ok);
  });
});
