import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { Jar } from '../helpers/app.ts';
import {
  ALICE,
  EMAIL,
  IDP_SSO,
  SP_ACS,
  SP_ID,
  SP_KEY,
  SP_SLO,
  SP2_ACS,
  SP2_ID,
  SP2_SLO,
  getAndSignIn,
  nodeSamlFormFields,
  pathOf,
  postAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// An independent service provider (@node-saml/node-saml ≥ 5.1, strict settings: signed assertion required,
// audience and recipient and InResponseTo checked, IdP certificate only the one from our published metadata)
// drives the real server through SP-initiated sign-in with both bindings and signed requests, and single logout.

type App = Awaited<ReturnType<typeof samlApp>>;

function nodeSamlSp(t: App, o: { post?: boolean; signResponse?: boolean } = {}): SAML {
  return new SAML({
    entryPoint: IDP_SSO,
    logoutUrl: IDP_SSO,
    callbackUrl: SP_ACS,
    logoutCallbackUrl: SP_SLO,
    issuer: SP_ID,
    audience: SP_ID,
    idpCert: t.idpCert,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: o.signResponse === true,
    privateKey: SP_KEY,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: EMAIL,
    validateInResponseTo: ValidateInResponseTo.always,
    authnRequestBinding: o.post === true ? 'HTTP-POST' : 'HTTP-Redirect',
    acceptedClockSkewMs: 0,
  });
}

describe('SAML 2.0 IdP with @node-saml/node-saml as the service provider', () => {
  let t: App;
  before(async () => {
    t = await samlApp([
      {
        file: 'node-saml-sp',
        metadataXml: spMetadata(standardSp({ authnRequestsSigned: true })),
        trust: { name: 'node-saml SP', nameIdFormat: EMAIL, signResponse: true },
      },
      {
        file: 'node-saml-sp2',
        metadataXml: spMetadata(
          standardSp({
            entityId: SP2_ID,
            acs: [{ location: SP2_ACS, index: 0, isDefault: true }],
            slo: [{ location: SP2_SLO, binding: 'redirect' }],
          }),
        ),
        trust: { name: 'second SP', nameIdFormat: EMAIL, signResponse: true },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  test('SP-initiated, HTTP-Redirect, signed request: node-saml accepts the signed response', async () => {
    const sp = nodeSamlSp(t, { signResponse: true });
    const url = await sp.getAuthorizeUrlAsync('relay-1', undefined, {});
    assert.ok(url.startsWith(IDP_SSO) && url.includes('Signature='));
    const { res } = await getAndSignIn(t.app, url);
    assert.equal(res.status, 200, res.text.slice(0, 500));
    const posted = postedSaml(res.text);
    assert.equal(posted.action, SP_ACS);
    assert.equal(posted.RelayState, 'relay-1');
    const { profile, loggedOut } = await sp.validatePostResponseAsync({
      SAMLResponse: posted.SAMLResponse!,
    });
    assert.equal(loggedOut, false);
    assert.ok(profile);
    assert.equal(profile.issuer, 'http://sts.fedgate.test/adfs/services/trust');
    assert.equal(profile.nameID, 'alice@fedgate.test');
    assert.equal(profile.nameIDFormat, EMAIL);
    assert.ok(profile.sessionIndex?.startsWith('_'));
    assert.equal(
      profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'],
      'alice@fedgate.test',
    );
    assert.equal(t.logs.events('token_issued').at(-1)?.protocol, 'saml2');
  });

  test('SP-initiated, HTTP-POST, signed request (enveloped): accepted with assertion-only signature', async () => {
    const sp = nodeSamlSp(t, { post: true, signResponse: true });
    const form = await sp.getAuthorizeFormAsync('relay-2');
    const fields = nodeSamlFormFields(form);
    assert.ok(fields.SAMLRequest);
    const { res } = await postAndSignIn(t.app, fields);
    assert.equal(res.status, 200, res.text.slice(0, 500));
    const posted = postedSaml(res.text);
    assert.equal(posted.RelayState, 'relay-2');
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: posted.SAMLResponse! });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
  });

  test('an existing SSO session answers the next request without a form; ForceAuthn prompts again', async () => {
    const sp = nodeSamlSp(t, { signResponse: true });
    const jar = new Jar();
    const first = await getAndSignIn(t.app, await sp.getAuthorizeUrlAsync('', undefined, {}), jar);
    assert.equal(first.res.status, 200);
    const second = await request(t.app)
      .get(pathOf(await sp.getAuthorizeUrlAsync('', undefined, {})))
      .set('Cookie', jar.header());
    assert.equal(second.status, 200);
    assert.ok(!second.text.includes('name="AuthState"'), 'SSO: no form');
    const { profile } = await sp.validatePostResponseAsync({
      SAMLResponse: postedSaml(second.text).SAMLResponse!,
    });
    assert.equal(profile?.nameID, 'alice@fedgate.test');

    const forceSp = new SAML({ ...nodeSamlOptions(sp), forceAuthn: true });
    const forced = await request(t.app)
      .get(pathOf(await forceSp.getAuthorizeUrlAsync('', undefined, {})))
      .set('Cookie', jar.header());
    assert.equal(forced.status, 200);
    assert.ok(
      forced.text.includes('name="AuthState"'),
      'ForceAuthn shows the form despite the session',
    );
  });

  test('single logout: node-saml LogoutRequest (signed redirect) ends the session, LogoutResponse verifies', async () => {
    const sp = nodeSamlSp(t, { signResponse: true });
    const jar = new Jar();
    const { res } = await getAndSignIn(
      t.app,
      await sp.getAuthorizeUrlAsync('', undefined, {}),
      jar,
    );
    const { profile } = await sp.validatePostResponseAsync({
      SAMLResponse: postedSaml(res.text).SAMLResponse!,
    });
    assert.ok(profile);
    const logoutUrl = await sp.getLogoutUrlAsync(profile, 'bye', {});
    const out = await request(t.app).get(pathOf(logoutUrl)).set('Cookie', jar.header());
    jar.take(out);
    assert.equal(out.status, 302, out.text.slice(0, 300));
    const loc = out.headers.location as string;
    assert.ok(loc.startsWith(SP_SLO + '?'));
    const query = Object.fromEntries(new URL(loc).searchParams);
    assert.equal(query.RelayState, 'bye');
    const v = await sp.validateRedirectAsync(query, new URL(loc).search.slice(1));
    assert.equal(v.loggedOut, true);
    // The session is gone: the next request shows the sign-in form.
    const again = await request(t.app)
      .get(pathOf(await sp.getAuthorizeUrlAsync('', undefined, {})))
      .set('Cookie', jar.header());
    assert.ok(again.text.includes('name="AuthState"'));
    assert.equal(ALICE.username, 'alice@fedgate.test');
  });

  test('single logout propagates: SP1 logs out, SP2 (same session) gets a LogoutRequest, SP1 gets the LogoutResponse', async () => {
    const sp1 = nodeSamlSp(t, { signResponse: true });
    const sp2 = secondSp(t);
    const jar = new Jar();
    const a = await getAndSignIn(t.app, await sp1.getAuthorizeUrlAsync('', undefined, {}), jar);
    const p1 = (
      await sp1.validatePostResponseAsync({ SAMLResponse: postedSaml(a.res.text).SAMLResponse! })
    ).profile;
    const b = await request(t.app)
      .get(pathOf(await sp2.getAuthorizeUrlAsync('', undefined, {})))
      .set('Cookie', jar.header());
    assert.ok(!b.text.includes('name="AuthState"'), 'SSO into the second SP');
    const p2 = (
      await sp2.validatePostResponseAsync({ SAMLResponse: postedSaml(b.text).SAMLResponse! })
    ).profile;
    assert.ok(p1 && p2);
    assert.notEqual(p1.sessionIndex, p2.sessionIndex);

    // SP1 starts the logout.
    const step1 = await request(t.app)
      .get(pathOf(await sp1.getLogoutUrlAsync(p1, 'sp1-relay', {})))
      .set('Cookie', jar.header());
    jar.take(step1);
    assert.equal(step1.status, 302);
    const toSp2 = new URL(step1.headers.location as string);
    assert.equal(toSp2.origin + toSp2.pathname, SP2_SLO);
    // SP2 (node-saml) verifies fedgate's signed LogoutRequest and answers.
    const v2 = await sp2.validateRedirectAsync(
      Object.fromEntries(toSp2.searchParams),
      toSp2.search.slice(1),
    );
    assert.equal(v2.loggedOut, true);
    assert.equal(v2.profile?.nameID, 'alice@fedgate.test');
    assert.equal(v2.profile.sessionIndex, p2.sessionIndex);
    const answer = await sp2.getLogoutResponseUrlAsync(
      v2.profile,
      toSp2.searchParams.get('RelayState') ?? '',
      {},
      true,
    );
    const step2 = await request(t.app).get(pathOf(answer)).set('Cookie', jar.header());
    assert.equal(step2.status, 302, step2.text.slice(0, 300));
    const toSp1 = new URL(step2.headers.location as string);
    assert.equal(toSp1.origin + toSp1.pathname, SP_SLO);
    assert.equal(toSp1.searchParams.get('RelayState'), 'sp1-relay');
    const v1 = await sp1.validateRedirectAsync(
      Object.fromEntries(toSp1.searchParams),
      toSp1.search.slice(1),
    );
    assert.equal(v1.loggedOut, true);
  });

  test('IdP-initiated sign-out (wsignout1.0) logs the SAML party out, then shows the signed-out page', async () => {
    const sp = nodeSamlSp(t, { signResponse: true });
    const jar = new Jar();
    const { res } = await getAndSignIn(
      t.app,
      await sp.getAuthorizeUrlAsync('', undefined, {}),
      jar,
    );
    const { profile } = await sp.validatePostResponseAsync({
      SAMLResponse: postedSaml(res.text).SAMLResponse!,
    });
    assert.ok(profile);
    const out = await request(t.app).get('/adfs/ls/?wa=wsignout1.0').set('Cookie', jar.header());
    jar.take(out);
    assert.equal(out.status, 302);
    const toSp = new URL(out.headers.location as string);
    assert.equal(toSp.origin + toSp.pathname, SP_SLO);
    const v = await sp.validateRedirectAsync(
      Object.fromEntries(toSp.searchParams),
      toSp.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
    assert.equal(v.profile?.nameID, 'alice@fedgate.test');
    const back = await sp.getLogoutResponseUrlAsync(
      v.profile,
      toSp.searchParams.get('RelayState') ?? '',
      {},
      true,
    );
    const done = await request(t.app).get(pathOf(back)).set('Cookie', jar.header());
    assert.equal(done.status, 200);
    assert.match(done.text, /You have signed out/);
  });
});

function secondSp(t: App): SAML {
  return new SAML({
    entryPoint: IDP_SSO,
    logoutUrl: IDP_SSO,
    callbackUrl: SP2_ACS,
    logoutCallbackUrl: SP2_SLO,
    issuer: SP2_ID,
    audience: SP2_ID,
    idpCert: t.idpCert,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    privateKey: SP_KEY,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: EMAIL,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 0,
  });
}

function nodeSamlOptions(sp: SAML): ConstructorParameters<typeof SAML>[0] {
  return (sp as unknown as { options: ConstructorParameters<typeof SAML>[0] }).options;
}
