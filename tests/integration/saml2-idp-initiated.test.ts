import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { Jar, decodeEntities } from '../helpers/app.ts';
import { validateWithNodeSaml, verifySaml2ResponseWithXmlCrypto } from '../helpers/verify.ts';
import {
  EMAIL,
  ISSUER,
  SP2_ACS,
  SP2_ID,
  SP_ACS,
  SP_ID,
  submitCredentials,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// IdP-initiated sign-on at /adfs/ls/idpinitiatedsignon (AD FS's page): off by default; lists only trusts that
// allow it; RelayState only a registered URL; the unsolicited response verifies in node-saml and xml-crypto.

const APP_URL = 'https://sp.fedgate.test/app/home';

describe('SAML 2.0 IdP-initiated sign-on', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp(
      [
        {
          file: 'sp',
          metadataXml: spMetadata(standardSp()),
          trust: {
            name: 'Contoso <HR>',
            nameIdFormat: EMAIL,
            idpInitiated: true,
            relayStateUrls: ['https://sp.fedgate.test/app/'],
          },
        },
        {
          file: 'sp2',
          metadataXml: spMetadata(
            standardSp({ entityId: SP2_ID, acs: [{ location: SP2_ACS, index: 0 }] }),
          ),
          trust: { name: 'Hidden app', nameIdFormat: EMAIL },
        },
      ],
      { saml2: { idpInitiatedSignOn: true } },
    );
  });
  after(async () => {
    await t.close();
  });

  test('the page lists only trusts that allow it, names HTML-encoded', async () => {
    const res = await request(t.app).get('/adfs/ls/idpinitiatedsignon.aspx');
    assert.equal(res.status, 200);
    assert.match(res.text, /Contoso &lt;HR&gt;/);
    assert.ok(!res.text.includes('Hidden app'));
    assert.ok(decodeEntities(res.text).includes(`href="?LoginToRP=${encodeURIComponent(SP_ID)}"`));
  });

  test('sign in to a listed trust: unsolicited response with the registered RelayState', async () => {
    const jar = new Jar();
    const page = await request(t.app).get(
      `/adfs/ls/idpinitiatedsignon?LoginToRP=${encodeURIComponent(SP_ID)}&RelayState=${encodeURIComponent(APP_URL)}`,
    );
    jar.take(page);
    assert.equal(page.status, 200);
    const res = await submitCredentials(t.app, jar, page.text);
    const posted = postedSaml(res.text);
    assert.equal(posted.action, SP_ACS);
    assert.equal(posted.RelayState, APP_URL);
    const xml = Buffer.from(posted.SAMLResponse!, 'base64').toString('utf8');
    const view = verifySaml2ResponseWithXmlCrypto(xml, t.idpCert);
    assert.equal(view.inResponseTo, null, 'unsolicited');
    assert.equal(view.assertion.subjectInResponseTo, null);
    const profile = await validateWithNodeSaml(posted.SAMLResponse!, {
      certPem: t.idpCert,
      entityId: SP_ID,
      callbackUrl: SP_ACS,
      idpIssuer: ISSUER,
      wantAuthnResponseSigned: false,
    });
    assert.equal(profile.nameID, 'alice@fedgate.test');
  });

  test('an unregistered RelayState, or a trust that does not allow it, is refused', async () => {
    for (const relay of [
      'https://evil.example/',
      'https://sp.fedgate.test/other',
      'javascript:alert(1)',
    ]) {
      const res = await request(t.app).get(
        `/adfs/ls/idpinitiatedsignon?LoginToRP=${encodeURIComponent(SP_ID)}&RelayState=${encodeURIComponent(relay)}`,
      );
      assert.equal(res.status, 400, relay);
      assert.doesNotMatch(res.text, /AuthState|SAMLResponse/);
    }
    const hidden = await request(t.app).get(
      `/adfs/ls/idpinitiatedsignon?LoginToRP=${encodeURIComponent(SP2_ID)}`,
    );
    assert.equal(hidden.status, 400);
  });

  test('off by default', async () => {
    const off = await samlApp([]);
    try {
      const res = await request(off.app).get('/adfs/ls/idpinitiatedsignon');
      assert.equal(res.status, 404);
    } finally {
      await off.close();
    }
  });
});
