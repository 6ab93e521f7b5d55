import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import type { ConfigInput } from '../../server/config/schema.ts';
import { decodeEntities, hidden, Jar, makeTestApp, nextHop, type TestApp } from '../helpers/app.ts';

// OpenID Connect through fedgate's browser pipeline (issue 19): the Web API is the party of the sign-in, so its
// AD FS rules decide the access token's claims and who may have one, its MFA policy applies, and a token is audited.
// Every JWT is checked with jose against the JWKS fedgate publishes (never with fedgate's own code).

const REDIRECT = 'http://localhost:5000/cb';
const GROUP_RULES = [
  '@RuleName = "groups"',
  'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]',
  ' => issue(store = "Active Directory", types = ("http://schemas.xmlsoap.org/claims/Group", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"), query = ";tokenGroups,userPrincipalName;{0}", param = c.Value);',
  '@RuleName = "role"',
  'c:[Type == "http://schemas.xmlsoap.org/claims/Group", Value == "Finance"] => issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", Value = "payroll-admin");',
].join('\n');
// Only members of Finance may have a token for the payroll API (alice is, bob is not: demo directory).
const FINANCE_ONLY = [
  '@RuleName = "finance"',
  'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]',
  ' => add(store = "Active Directory", types = ("http://schemas.xmlsoap.org/claims/Group"), query = ";tokenGroups;{0}", param = c.Value);',
  'c:[Type == "http://schemas.xmlsoap.org/claims/Group", Value == "Finance"] => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");',
].join('\n');

function config(): ConfigInput {
  return {
    oauth: {
      applicationGroups: [
        {
          name: 'Payroll',
          nativeClients: [
            {
              name: 'Payroll desktop',
              clientId: 'payroll-desktop',
              redirectUris: [REDIRECT],
              logoutUri: 'https://payroll.contoso.test/signout',
              allowPasswordGrant: true,
            },
          ],
          webApis: [
            {
              name: 'Payroll API',
              identifiers: ['https://payroll.contoso.test'],
              issuanceRules: GROUP_RULES,
              authorizationRules: FINANCE_ONLY,
              permissions: [
                { client: 'payroll-desktop', scopes: ['openid', 'user_impersonation'] },
              ],
            },
            {
              name: 'Audit API',
              identifiers: ['https://audit.contoso.test'],
              issuanceRules: GROUP_RULES,
              mfa: { accessControlPolicies: [{ kind: 'everyone' }] },
              permissions: [{ client: '*', scopes: ['user_impersonation'] }],
            },
          ],
        },
      ],
    },
  };
}

interface Flow {
  res: request.Response;
  jar: Jar;
  verifier: string;
}

/** authorize → interaction → fedgate's sign-in page → credentials → (the answer to the credential post). */
async function signInFor(
  app: Express,
  scope: string,
  user: string,
  extra: Record<string, string> = {},
): Promise<Flow & { page: request.Response }> {
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: 'payroll-desktop',
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: 'st-1',
    nonce: 'n-1',
    ...extra,
  });
  const jar = new Jar();
  const authz = await request(app).get(`/adfs/oauth2/authorize?${q.toString()}`);
  jar.take(authz);
  assert.equal(authz.status, 303, authz.text.slice(0, 300));
  const page = await request(app)
    .get(new URL(String(authz.headers.location), 'http://x').pathname)
    .set('Cookie', jar.header());
  jar.take(page);
  assert.equal(page.status, 200);
  const res = await request(app)
    .post('/adfs/ls/')
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(page.text, 'AuthState'),
      csrf: hidden(page.text, 'csrf'),
      UserName: user,
      Password: 'Passw0rd!',
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(res);
  return { res, jar, verifier, page };
}

/** Follows oidc-provider's resume address to the client's redirect URI; returns that URI's query. */
async function resume(app: Express, flow: Flow): Promise<URLSearchParams> {
  // The sign-in ends on a same-origin continuation page (a navigation, not a redirect of the form post).
  const hop = nextHop(flow.res);
  assert.ok(hop !== undefined, flow.res.text.slice(0, 300));
  const u = new URL(hop);
  const r = await request(app)
    .get(u.pathname + u.search)
    .set('Cookie', flow.jar.header());
  assert.equal(r.status, 303, r.text.slice(0, 300));
  const back = new URL(String(r.headers.location));
  assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
  return back.searchParams;
}

async function exchange(
  app: Express,
  code: string,
  verifier: string,
): Promise<Record<string, string>> {
  const r = await request(app).post('/adfs/oauth2/token').type('form').send({
    grant_type: 'authorization_code',
    code,
    client_id: 'payroll-desktop',
    redirect_uri: REDIRECT,
    code_verifier: verifier,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Record<string, string>;
}

describe('OIDC through the browser pipeline (Web API rules, MFA, audit)', () => {
  let t: TestApp;
  let jwks: ReturnType<typeof createLocalJWKSet>;
  let issuer: string;

  before(async () => {
    t = await makeTestApp(config());
    const d = await request(t.app).get('/adfs/.well-known/openid-configuration');
    issuer = (d.body as { issuer: string }).issuer;
    const k = await request(t.app).get('/adfs/discovery/keys');
    jwks = createLocalJWKSet(k.body as JSONWebKeySet);
  });
  after(() => t.close());

  test("the Web API's issuance rules decide the access token's claims; allatclaims copies them to the ID token", async () => {
    const flow = await signInFor(
      t.app,
      'openid allatclaims https://payroll.contoso.test/user_impersonation',
      'alice',
    );
    const q = await resume(t.app, flow);
    assert.equal(q.get('state'), 'st-1');
    const tokens = await exchange(t.app, q.get('code') ?? '', flow.verifier);
    const at = await jwtVerify(tokens['access_token'] ?? '', jwks, {
      issuer: t.config.issuerUri,
      audience: 'https://payroll.contoso.test',
    });
    assert.deepEqual([at.payload['group']].flat().sort(), ['Domain Users', 'Finance', 'Staff']);
    assert.equal(at.payload['role'], 'payroll-admin');
    assert.equal(at.payload['appid'], 'payroll-desktop');
    assert.match(String(at.payload['scp']), /\buser_impersonation\b/);
    const id = await jwtVerify(tokens['id_token'] ?? '', jwks, {
      issuer,
      audience: 'payroll-desktop',
    });
    assert.equal(id.payload['nonce'], 'n-1');
    assert.equal(
      id.payload['role'],
      'payroll-admin',
      'allatclaims puts the rules’ claims in the ID token',
    );
    // The JWT's kid is the signing certificate's thumbprint (AD FS: kid = x5t).
    const header = decodeProtectedHeader(tokens['access_token'] ?? '');
    const thumb = new X509Certificate(t.services.signing.certificatePem).fingerprint.replace(
      /:/g,
      '',
    );
    assert.equal(header.kid, Buffer.from(thumb, 'hex').toString('base64url'));
    // Audited at the token endpoint with the user and the access token's jti.
    const line = t.logs.events('token_issued').find((l) => l['assertionId'] === at.payload.jti);
    assert.ok(line, 'a token_issued line names the access token');
    assert.equal(line['protocol'], 'oidc');
    assert.equal(line['rp'], 'https://payroll.contoso.test');
    assert.equal(line['clientApplication'], 'payroll-desktop');
    assert.equal(line['upn'], 'alice@fedgate.test');
  });

  test("one session, one sign-out: a WS-Fed sign-out loads the OAuth client's LogoutUri, and ends the SSO session", async () => {
    const flow = await signInFor(
      t.app,
      'openid https://payroll.contoso.test/user_impersonation',
      'alice',
    );
    const q = await resume(t.app, flow);
    assert.ok(q.get('code'));
    const out = await request(t.app)
      .get('/adfs/ls/?wa=wsignout1.0')
      .set('Cookie', flow.jar.header());
    assert.equal(out.status, 200);
    const imgs = [...out.text.matchAll(/<img class="signout-cleanup" src="([^"]*)"/g)].map((m) =>
      decodeEntities(m[1] ?? ''),
    );
    assert.deepEqual(imgs, [
      `https://payroll.contoso.test/signout?iss=${encodeURIComponent(issuer)}`,
    ]);
    assert.match(
      String(out.headers['content-security-policy']),
      /img-src[^;]* https:\/\/payroll\.contoso\.test/,
    );
    // The session is gone: a new authorization asks for credentials again.
    const again = await signInFor(t.app, 'openid', 'alice');
    assert.match(again.page.text, /name="AuthState"/);
  });

  test('without allatclaims the ID token has no rule claims', async () => {
    const flow = await signInFor(
      t.app,
      'openid https://payroll.contoso.test/user_impersonation',
      'alice',
    );
    const q = await resume(t.app, flow);
    const tokens = await exchange(t.app, q.get('code') ?? '', flow.verifier);
    const id = await jwtVerify(tokens['id_token'] ?? '', jwks, {
      issuer,
      audience: 'payroll-desktop',
    });
    assert.equal(id.payload['role'], undefined);
    assert.equal(id.payload['upn'], 'alice@fedgate.test');
  });

  test("the Web API's authorization rules: a user they do not permit is sent back with access_denied, and audited", async () => {
    const flow = await signInFor(
      t.app,
      'openid https://payroll.contoso.test/user_impersonation',
      'bob',
    );
    const q = await resume(t.app, flow);
    assert.equal(q.get('error'), 'access_denied');
    assert.equal(q.get('code'), null);
    assert.ok(
      t.logs
        .events('access_denied')
        .some((l) => l['protocol'] === 'oidc' && l['rp'] === 'https://payroll.contoso.test'),
    );
  });

  test("the Web API's MFA policy applies to an OAuth sign-in: the second-factor step, not the client", async () => {
    const needs = await signInFor(
      t.app,
      'openid https://audit.contoso.test/user_impersonation',
      'alice',
    );
    assert.equal(needs.res.status, 200, 'the pipeline answers with its MFA page');
    assert.match(needs.res.text, /<form method="post" action="\/adfs\/ls\/mfa"/);
    assert.equal(
      nextHop(needs.res),
      undefined,
      'no way back to the client before the second factor',
    );
    assert.ok(t.logs.events('mfa_required').some((l) => l['protocol'] === 'oidc'));
    // Its twin without an MFA policy goes straight back to the client.
    const plain = await signInFor(
      t.app,
      'openid https://payroll.contoso.test/user_impersonation',
      'alice',
    );
    assert.doesNotMatch(plain.res.text, /action="\/adfs\/ls\/mfa"/);
    assert.match(nextHop(plain.res) ?? '', /\/adfs\/oauth2\/authorize\//);
  });

  test('the password grant is refused for a Web API whose policy needs a second factor', async () => {
    const refused = await request(t.app).post('/adfs/oauth2/token').type('form').send({
      grant_type: 'password',
      client_id: 'payroll-desktop',
      username: 'alice',
      password: 'Passw0rd!',
      scope: 'https://audit.contoso.test/user_impersonation',
    });
    assert.equal(refused.status, 400);
    assert.equal((refused.body as { error: string }).error, 'invalid_grant');
    const ok = await request(t.app).post('/adfs/oauth2/token').type('form').send({
      grant_type: 'password',
      client_id: 'payroll-desktop',
      username: 'alice',
      password: 'Passw0rd!',
      scope: 'openid https://payroll.contoso.test/user_impersonation',
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const at = await jwtVerify((ok.body as { access_token: string }).access_token, jwks, {
      issuer: t.config.issuerUri,
      audience: 'https://payroll.contoso.test',
    });
    assert.equal(at.payload['role'], 'payroll-admin');
  });

  test("an interaction opened in another browser (without oidc-provider's interaction cookie) gets no sign-in page", async () => {
    const q = new URLSearchParams({
      client_id: 'payroll-desktop',
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const authz = await request(t.app).get(`/adfs/oauth2/authorize?${q.toString()}`);
    const path = new URL(String(authz.headers.location), 'http://x').pathname;
    const other = await request(t.app).get(path);
    assert.equal(other.status, 400);
    assert.doesNotMatch(other.text, /name="AuthState"/);
    const jar = new Jar();
    jar.take(authz);
    const same = await request(t.app).get(path).set('Cookie', jar.header());
    assert.equal(same.status, 200);
    assert.match(same.text, /name="AuthState"/);
  });

  test('the JWKS publishes the next signing certificate once generated; tokens stay signed by the primary', async () => {
    const before = (await request(t.app).get('/adfs/discovery/keys')).body as JSONWebKeySet;
    assert.equal(before.keys.length, 1);
    await t.services.keyLifecycle.generateNow();
    const afterGen = (await request(t.app).get('/adfs/discovery/keys')).body as JSONWebKeySet;
    assert.equal(afterGen.keys.length, 2);
    const kids = afterGen.keys.map((k) => k.kid);
    for (const k of afterGen.keys) {
      const cert = new X509Certificate(Buffer.from(String((k.x5c ?? [])[0]), 'base64'));
      const thumb = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
      assert.equal(k.kid, thumb);
      assert.equal(k['x5t'], thumb);
    }
    const ok = await request(t.app).post('/adfs/oauth2/token').type('form').send({
      grant_type: 'password',
      client_id: 'payroll-desktop',
      username: 'alice',
      password: 'Passw0rd!',
      scope: 'https://payroll.contoso.test/user_impersonation',
    });
    const kid = decodeProtectedHeader((ok.body as { access_token: string }).access_token).kid;
    assert.equal(kid, kids[0], 'the primary (listed first) signs');
  });
});
