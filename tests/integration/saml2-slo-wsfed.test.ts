import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { BASE_CSP } from '../../server/http/middleware.ts';
import { Jar, decodeEntities, formAction, hidden, signIn } from '../helpers/app.ts';
import {
  ALICE,
  EMAIL,
  IDP_SSO,
  ISSUER,
  SP_ACS,
  SP_ID,
  SP_KEY,
  SP_SLO,
  SP2_ACS,
  SP2_ID,
  SP2_SLO,
  getAndSignIn,
  pathOf,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// One session, one sign-out (issue 5 §5) across protocols: WS-Federation relying parties that got tokens in the
// same browser session as SAML 2.0 service providers are sent wsignoutcleanup1.0 when the session ends, whichever
// protocol ended it. The signed-out page loads each party's reply URL with wa=wsignoutcleanup1.0 as an <img>
// (AD FS's way); that response alone gets a CSP whose img-src adds exactly those origins; the session is gone.

const APP1 = { id: 'urn:app:one', reply: 'https://app1.fedgate.test/signin-wsfed' };
const APP2 = { id: 'urn:app:two', reply: 'https://app2.example.org/wsfed/' };
const cleanupOf = (reply: string): string => {
  const u = new URL(reply);
  u.searchParams.set('wa', 'wsignoutcleanup1.0');
  return u.href;
};

type App = Awaited<ReturnType<typeof samlApp>>;

function sp(t: App, o: { id: string; acs: string; slo: string }): SAML {
  return new SAML({
    entryPoint: IDP_SSO,
    logoutUrl: IDP_SSO,
    callbackUrl: o.acs,
    logoutCallbackUrl: o.slo,
    issuer: o.id,
    audience: o.id,
    idpCert: t.idpCert,
    idpIssuer: ISSUER,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    privateKey: SP_KEY,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: EMAIL,
    validateInResponseTo: ValidateInResponseTo.never,
    acceptedClockSkewMs: 0,
  });
}

/** Parses a CSP header into directive → sources. */
function csp(header: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of String(header).split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name !== undefined && name !== '') out.set(name, sources);
  }
  return out;
}

/** The cleanup image URLs on a signed-out page, in order. */
function cleanupImages(html: string): string[] {
  return [...html.matchAll(/<img class="signout-cleanup" src="([^"]+)"/g)].map((m) =>
    decodeEntities(m[1]!),
  );
}

describe('single logout reaches the WS-Federation parties of the session', () => {
  let t: App;
  before(async () => {
    t = await samlApp(
      [
        {
          file: 'slo-sp',
          metadataXml: spMetadata(standardSp()),
          trust: { nameIdFormat: EMAIL },
        },
        {
          // An SP whose single logout endpoint takes the HTTP-POST binding.
          file: 'slo-sp2',
          metadataXml: spMetadata(
            standardSp({
              entityId: SP2_ID,
              acs: [{ location: SP2_ACS, index: 0, isDefault: true }],
              slo: [{ location: SP2_SLO, binding: 'post' }],
            }),
          ),
          trust: { nameIdFormat: EMAIL },
        },
      ],
      {
        relyingParties: [
          { identifier: APP1.id, name: 'App One', replyUrls: [APP1.reply] },
          { identifier: APP2.id, name: 'App Two', replyUrls: [APP2.reply] },
        ],
      },
    );
  });
  after(async () => {
    await t.close();
  });

  /** Signs in to the SAML SP, then SSO into both WS-Fed apps with the same browser session. */
  async function sessionWithAllParties(client: SAML, acs: string) {
    const jar = new Jar();
    const { res } = await getAndSignIn(
      t.app,
      await client.getAuthorizeUrlAsync('', undefined, {}),
      jar,
    );
    assert.equal(postedSaml(res.text).action, acs);
    const { profile } = await client.validatePostResponseAsync({
      SAMLResponse: postedSaml(res.text).SAMLResponse!,
    });
    assert.ok(profile);
    for (const app of [APP1, APP2]) {
      const r = await signIn(t.app, { ...ALICE, realm: app.id, jar });
      assert.equal(r.res.status, 200);
      assert.ok(!r.signinPage.includes('name="AuthState"'), `SSO into ${app.id}`);
      assert.equal(formAction(r.res.text), app.reply, 'token posted to the reply URL');
    }
    return { jar, profile };
  }

  test('SAML LogoutRequest (Redirect SLO): the page before the LogoutResponse loads each WS-Fed cleanup URL; CSP allows exactly those origins', async () => {
    const client = sp(t, { id: SP_ID, acs: SP_ACS, slo: SP_SLO });
    const { jar, profile } = await sessionWithAllParties(client, SP_ACS);
    const cookieBefore = jar.header();

    const out = await request(t.app)
      .get(pathOf(await client.getLogoutUrlAsync(profile, 'relay-slo', {})))
      .set('Cookie', cookieBefore);
    jar.take(out);
    assert.equal(out.status, 200, out.text.slice(0, 300));
    assert.match(out.text, /You have signed out/);
    assert.deepEqual(cleanupImages(out.text), [cleanupOf(APP1.reply), cleanupOf(APP2.reply)]);

    const policy = csp(out.headers['content-security-policy']);
    assert.deepEqual(policy.get('img-src'), [
      "'self'",
      'data:',
      'https://app1.fedgate.test',
      'https://app2.example.org',
    ]);
    assert.deepEqual(policy.get('default-src'), ["'none'"]);
    assert.deepEqual(policy.get('frame-ancestors'), ["'none'"]);
    assert.equal(policy.get('frame-src'), undefined, 'no frames (default-src none)');
    // Our own page script file ('self', issue 17), and the continuation's nonce; never 'unsafe-inline'.
    const nonce = decodeEntities(/<script nonce="([^"]+)">/.exec(out.text)?.[1] ?? '');
    assert.ok(nonce !== '');
    assert.deepEqual(policy.get('script-src'), ["'self'", `'nonce-${nonce}'`]);

    // The page then continues to the SP with its LogoutResponse, which node-saml verifies.
    const next = /<a id="signout-next-link" href="([^"]+)">/.exec(out.text)?.[1];
    assert.ok(next !== undefined);
    const back = new URL(decodeEntities(next));
    assert.equal(back.origin + back.pathname, SP_SLO);
    assert.equal(back.searchParams.get('RelayState'), 'relay-slo');
    const v = await client.validateRedirectAsync(
      Object.fromEntries(back.searchParams),
      back.search.slice(1),
    );
    assert.equal(v.loggedOut, true);

    // One session, one sign-out: the session record is gone (the old cookie gets the sign-in form), and the
    // WS-Fed party list went with it (a second sign-out has nothing to clean up).
    const again = await signIn(t.app, { ...ALICE, realm: APP1.id, jar: new Jar() });
    assert.ok(again.signinPage.includes('name="AuthState"'));
    const replay = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(APP1.id)}`)
      .set('Cookie', cookieBefore);
    assert.ok(replay.text.includes('name="AuthState"'), 'the old session cookie is dead');
    const later = await request(t.app).get('/adfs/ls/?wa=wsignout1.0').set('Cookie', cookieBefore);
    assert.equal(later.status, 200);
    assert.deepEqual(cleanupImages(later.text), []);
    // The widened img-src was for that one response: other pages keep the default policy.
    assert.equal(later.headers['content-security-policy'], BASE_CSP);
    const audit = t.logs.events('signout').at(-1);
    assert.equal(audit?.protocol, 'saml2');
  });

  test('SAML LogoutRequest (POST SLO): the cleanup page carries the LogoutResponse form; form-action is that SP only', async () => {
    const client = sp(t, { id: SP2_ID, acs: SP2_ACS, slo: SP2_SLO });
    const { jar, profile } = await sessionWithAllParties(client, SP2_ACS);
    const out = await request(t.app)
      .get(pathOf(await client.getLogoutUrlAsync(profile, 'relay-post', {})))
      .set('Cookie', jar.header());
    assert.equal(out.status, 200, out.text.slice(0, 300));
    assert.deepEqual(cleanupImages(out.text), [cleanupOf(APP1.reply), cleanupOf(APP2.reply)]);
    const policy = csp(out.headers['content-security-policy']);
    assert.deepEqual(policy.get('form-action'), ['https://sp2.fedgate.test']);
    assert.deepEqual(policy.get('img-src'), [
      "'self'",
      'data:',
      'https://app1.fedgate.test',
      'https://app2.example.org',
    ]);
    const action = /<form id="signout-next" method="post" action="([^"]+)">/.exec(out.text)?.[1];
    assert.equal(decodeEntities(action ?? ''), SP2_SLO);
    assert.equal(hidden(out.text, 'RelayState'), 'relay-post');
    const v = await client.validatePostResponseAsync({
      SAMLResponse: hidden(out.text, 'SAMLResponse'),
    });
    assert.equal(v.loggedOut, true);
  });

  test('wsignout1.0: SAML parties get LogoutRequests, then the signed-out page cleans up the WS-Fed parties', async () => {
    const client = sp(t, { id: SP_ID, acs: SP_ACS, slo: SP_SLO });
    const { jar } = await sessionWithAllParties(client, SP_ACS);
    const out = await request(t.app).get('/adfs/ls/?wa=wsignout1.0').set('Cookie', jar.header());
    jar.take(out);
    assert.equal(out.status, 302);
    const toSp = new URL(out.headers.location as string);
    assert.equal(toSp.origin + toSp.pathname, SP_SLO);
    const v = await client.validateRedirectAsync(
      Object.fromEntries(toSp.searchParams),
      toSp.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
    const answer = await client.getLogoutResponseUrlAsync(
      v.profile!,
      toSp.searchParams.get('RelayState') ?? '',
      {},
      true,
    );
    const end = await request(t.app).get(pathOf(answer)).set('Cookie', jar.header());
    assert.equal(end.status, 200, end.text.slice(0, 300));
    assert.deepEqual(cleanupImages(end.text), [cleanupOf(APP1.reply), cleanupOf(APP2.reply)]);
    const policy = csp(end.headers['content-security-policy']);
    assert.deepEqual(policy.get('img-src'), [
      "'self'",
      'data:',
      'https://app1.fedgate.test',
      'https://app2.example.org',
    ]);
    // Nothing to continue to: no inline script, only our own page script file (issue 17).
    assert.deepEqual(policy.get('script-src'), ["'self'"]);
    assert.ok(!end.text.includes('<script nonce'));
    assert.deepEqual(
      [...end.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]),
      ['<script src="/adfs/portal/theme/signin.js" defer>'],
    );
  });

  test('wsignout1.0 with only WS-Fed parties and a registered wreply: cleanup images first, then on to wreply', async () => {
    const { jar } = await signIn(t.app, { ...ALICE, realm: APP1.id });
    const out = await request(t.app)
      .get(`/adfs/ls/?wa=wsignout1.0&wreply=${encodeURIComponent(APP2.reply)}`)
      .set('Cookie', jar.header());
    assert.equal(out.status, 200);
    assert.deepEqual(cleanupImages(out.text), [cleanupOf(APP1.reply)]);
    assert.deepEqual(csp(out.headers['content-security-policy']).get('img-src'), [
      "'self'",
      'data:',
      'https://app1.fedgate.test',
    ]);
    const next = /<a id="signout-next-link" href="([^"]+)">/.exec(out.text)?.[1];
    assert.equal(decodeEntities(next ?? ''), APP2.reply);
    // Without a session there is nothing to clean up: straight to the registered wreply, as before.
    const plain = await request(t.app).get(
      `/adfs/ls/?wa=wsignout1.0&wreply=${encodeURIComponent(APP2.reply)}`,
    );
    assert.equal(plain.status, 302);
    assert.equal(plain.headers.location, APP2.reply);
  });
});
