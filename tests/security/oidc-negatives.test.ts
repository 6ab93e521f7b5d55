// OpenID Connect / OAuth 2.0 negatives (issue 19, "Negatives"): each test changes only what its defence should
// catch, beside a positive twin (the same request without the change) that succeeds. supertest on the app with the
// embedded demo directory (alice, bob: Passw0rd!). Tokens are checked with jose against the published JWKS, never
// with fedgate's code. Client assertions are built with jose from an RSA key and certificate made by the openssl CLI.
import { opensslSelfSigned } from '../helpers/pki.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import {
  createLocalJWKSet,
  importPKCS8,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
  type JSONWebKeySet,
} from 'jose';
import request from 'supertest';
import type { ConfigInput } from '../../server/config/schema.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { hidden, Jar, makeTestApp, type TestApp, nextHop } from '../helpers/app.ts';

const NATIVE = 'native-1';
const NATIVE_REDIRECT = 'http://localhost:5000/cb';
const NO_ROPC = 'native-no-ropc';
const WEB = 'web-1';
const WEB_REDIRECT = 'https://app.test/cb';
const WEB_SECRET = 'web-secret-4f9Qk2m7Wc1vLp8sZrJt';
const JWT_CLIENT = 'jwt-1';
const API_A = 'https://api-a.test';
const API_B = 'https://api-b.test';
/** A Web API only the native client may call (the confidential clients have no permission for it). */
const API_C = 'https://api-c.test';
const MIDDLE_SECRET = 'middle-secret-8sZrJt4x9Qk2m7Wc1vLp';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const OBO_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const ALICE = { username: 'alice', password: 'Passw0rd!' };

type Json = Record<string, unknown>;

const secretHash = (s: string): string =>
  `sha256:${createHash('sha256').update(s, 'utf8').digest('base64url')}`;

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args[0] ?? ''}: ${r.error?.message ?? r.stderr}`);
}

/** The private_key_jwt client's RSA key and self-signed certificate (openssl CLI), in a folder of its own. */
function clientKeyPair(): { dir: string; certFile: string; keyPem: string; publicPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-oidc-neg-'));
  opensslSelfSigned(dir, 'client', 'jwt-client', 30);
  openssl(['pkey', '-in', 'client.key', '-pubout', '-out', 'client.pub'], dir);
  return {
    dir,
    certFile: join(dir, 'client.crt'),
    keyPem: readFileSync(join(dir, 'client.key'), 'utf8'),
    publicPem: readFileSync(join(dir, 'client.pub'), 'utf8'),
  };
}

function groups(certFile: string): ConfigInput {
  return {
    oauth: {
      applicationGroups: [
        {
          name: 'Negatives',
          nativeClients: [
            {
              name: 'desk',
              clientId: NATIVE,
              redirectUris: [NATIVE_REDIRECT],
              allowPasswordGrant: true,
            },
            { name: 'desk without ROPC', clientId: NO_ROPC, redirectUris: [NATIVE_REDIRECT] },
          ],
          serverApplications: [
            {
              name: 'web',
              clientId: WEB,
              redirectUris: [WEB_REDIRECT],
              postLogoutRedirectUris: [WEB_REDIRECT],
              clientSecrets: [secretHash(WEB_SECRET)],
            },
            // Server applications carry a redirect URI even when they only use client credentials: without one
            // oidc-provider refuses the client (invalid_redirect_uri), reported to the lead.
            {
              name: 'daemon with a certificate',
              clientId: JWT_CLIENT,
              redirectUris: ['https://daemon.test/cb'],
              jwtSigningCertificateFiles: [certFile],
            },
            // The middle tier of on-behalf-of: a server application whose client_id is Web API A's identifier.
            {
              name: 'middle tier',
              clientId: API_A,
              redirectUris: ['https://middle.test/cb'],
              clientSecrets: [secretHash(MIDDLE_SECRET)],
            },
          ],
          webApis: [
            {
              name: 'A',
              identifiers: [API_A],
              permissions: [{ client: '*', scopes: ['openid', 'user_impersonation'] }],
            },
            {
              name: 'B',
              identifiers: [API_B],
              permissions: [
                { client: NATIVE, scopes: ['user_impersonation'] },
                { client: API_A, scopes: ['user_impersonation'] },
              ],
            },
            {
              name: 'C',
              identifiers: [API_C],
              permissions: [{ client: NATIVE, scopes: ['openid', 'user_impersonation'] }],
            },
          ],
        },
      ],
    },
  };
}

const pkce = (): { verifier: string; challenge: string } => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function path(location: string): string {
  const u = new URL(location, 'http://x');
  return u.pathname + u.search;
}

/**
 * The browser's part of an authorization request: GET authorize; when the provider sends the browser to fedgate's
 * sign-in (interaction), sign `user` in and follow the resume; the answer that leaves fedgate (a redirect to the
 * client, or an error page) is returned.
 */
async function authorize(
  app: Express,
  params: Record<string, string>,
  user = ALICE,
): Promise<{ status: number; location?: URL; text: string }> {
  const jar = new Jar();
  let r = await request(app).get(
    `/adfs/oauth2/authorize?${new URLSearchParams(params).toString()}`,
  );
  jar.take(r);
  const loc = r.headers.location;
  if (loc === undefined || !new URL(loc, 'http://x').pathname.includes('/oauth2/interaction/'))
    return {
      status: r.status,
      ...(loc === undefined ? {} : { location: new URL(loc, 'http://x') }),
      text: r.text,
    };
  r = await request(app).get(path(loc)).set('Cookie', jar.header());
  jar.take(r);
  assert.equal(r.status, 200, `interaction page: ${r.status} ${r.text.slice(0, 300)}`);
  const page = r.text;
  r = await request(app)
    .post('/adfs/ls/')
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(page, 'AuthState'),
      csrf: hidden(page, 'csrf'),
      UserName: user.username,
      Password: user.password,
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(r);
  const resume = nextHop(r);
  assert.ok(resume !== undefined, `sign-in answer: ${r.status} ${r.text.slice(0, 300)}`);
  r = await request(app).get(path(resume)).set('Cookie', jar.header());
  const out = r.headers.location;
  return {
    status: r.status,
    ...(out === undefined ? {} : { location: new URL(out) }),
    text: r.text,
  };
}

function codeParams(
  clientId: string,
  redirectUri: string,
  challenge: string | undefined,
  scope = 'openid profile',
): Record<string, string> {
  return {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state: randomUUID(),
    nonce: randomUUID(),
    ...(challenge === undefined
      ? {}
      : { code_challenge: challenge, code_challenge_method: 'S256' }),
  };
}

/** A code for `clientId` after alice signs in (the positive path every code test starts from). */
async function codeFor(
  app: Express,
  clientId: string,
  redirectUri: string,
  scope?: string,
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const a = await authorize(app, codeParams(clientId, redirectUri, challenge, scope));
  const code = a.location?.searchParams.get('code');
  assert.ok(
    typeof code === 'string' && code !== '',
    `a code: ${a.status} ${a.location?.href ?? a.text.slice(0, 300)}`,
  );
  return { code, verifier };
}

async function token(
  app: Express,
  form: Record<string, string>,
  basic?: { id: string; secret: string },
): Promise<{ status: number; body: Json }> {
  const r = request(app).post('/adfs/oauth2/token').type('form');
  if (basic !== undefined)
    void r.auth(encodeURIComponent(basic.id), encodeURIComponent(basic.secret));
  const res = await r.send(form);
  return { status: res.status, body: res.body as Json };
}

function expectError(
  got: { status: number; body: Json },
  status: number,
  error: string,
  what: string,
): void {
  assert.equal(got.body['error'], error, `${what}: ${got.status} ${JSON.stringify(got.body)}`);
  assert.equal(got.status, status, `${what}: status`);
  assert.equal(got.body['access_token'], undefined, `${what}: no access token`);
}

function expectTokens(got: { status: number; body: Json }, what: string): void {
  assert.equal(got.status, 200, `${what}: ${got.status} ${JSON.stringify(got.body)}`);
  assert.equal(typeof got.body['access_token'], 'string', `${what}: an access token`);
}

describe('OIDC negatives (issue 19)', () => {
  let t: TestApp;
  let app: Express;
  let keys: ReturnType<typeof clientKeyPair>;
  let issuer: string;
  let tokenEndpoint: string;
  let accessTokenIssuer: string;
  let jwks: ReturnType<typeof createLocalJWKSet>;

  before(async () => {
    keys = clientKeyPair();
    t = await makeTestApp(groups(keys.certFile));
    app = t.app;
    const d = await request(app).get('/adfs/.well-known/openid-configuration');
    assert.equal(d.status, 200);
    const disc = d.body as Json;
    issuer = String(disc['issuer']);
    tokenEndpoint = String(disc['token_endpoint']);
    accessTokenIssuer = String(disc['access_token_issuer']);
    const k = await request(app).get(new URL(String(disc['jwks_uri'])).pathname);
    assert.equal(k.status, 200);
    jwks = createLocalJWKSet(k.body as JSONWebKeySet);
  });
  after(async () => {
    await t.close();
  });

  test('redirect_uri not registered, another path, another scheme: a 400 page, never a redirect', async () => {
    const { challenge } = pkce();
    const good = await authorize(app, codeParams(WEB, WEB_REDIRECT, challenge));
    assert.equal(`${good.location?.origin ?? ''}${good.location?.pathname ?? ''}`, WEB_REDIRECT);
    assert.ok(good.location?.searchParams.get('code'), 'the registered redirect_uri gets a code');
    for (const bad of [
      'https://evil.test/cb',
      'https://app.test/cb2',
      'https://app.test/other/cb',
      'http://app.test/cb',
    ]) {
      const r = await request(app).get(
        `/adfs/oauth2/authorize?${new URLSearchParams(codeParams(WEB, bad, challenge)).toString()}`,
      );
      assert.equal(r.status, 400, `${bad}: ${r.status} ${String(r.headers.location)}`);
      assert.equal(r.headers.location, undefined, `${bad}: no redirect`);
      assert.match(r.text, /redirect_uri/, `${bad}: the page names the problem`);
      assert.ok(!r.text.includes(bad), `${bad}: not echoed as a link`);
    }
  });

  test('PKCE missing (public and confidential client) is refused at authorize; missing or wrong code_verifier is invalid_grant', async () => {
    for (const [client, redirect] of [
      [NATIVE, NATIVE_REDIRECT],
      [WEB, WEB_REDIRECT],
    ] as const) {
      const { challenge } = pkce();
      const twin = await authorize(app, codeParams(client, redirect, challenge));
      assert.ok(twin.location?.searchParams.get('code'), `${client}: with PKCE a code`);
      const noPkce = await authorize(app, codeParams(client, redirect, undefined));
      assert.equal(
        noPkce.location?.searchParams.get('error'),
        'invalid_request',
        `${client} without code_challenge: ${noPkce.status} ${noPkce.location?.href ?? noPkce.text.slice(0, 200)}`,
      );
      assert.match(noPkce.location.searchParams.get('error_description') ?? '', /PKCE/);
      assert.equal(noPkce.location.searchParams.get('code'), null);
    }
    // A code bound to a challenge: the right verifier redeems it; none or a wrong one does not.
    const auth = (form: Record<string, string>) =>
      token(app, form, { id: WEB, secret: WEB_SECRET });
    const base = { grant_type: 'authorization_code', redirect_uri: WEB_REDIRECT };
    let c = await codeFor(app, WEB, WEB_REDIRECT);
    expectError(await auth({ ...base, code: c.code }), 400, 'invalid_grant', 'no code_verifier');
    c = await codeFor(app, WEB, WEB_REDIRECT);
    expectError(
      await auth({ ...base, code: c.code, code_verifier: pkce().verifier }),
      400,
      'invalid_grant',
      'wrong code_verifier',
    );
    c = await codeFor(app, WEB, WEB_REDIRECT);
    expectTokens(
      await auth({ ...base, code: c.code, code_verifier: c.verifier }),
      'right verifier',
    );
  });

  test('a code redeemed twice: invalid_grant, and the first redemption’s tokens are revoked', async () => {
    const { code, verifier } = await codeFor(app, NATIVE, NATIVE_REDIRECT);
    const form = {
      grant_type: 'authorization_code',
      code,
      client_id: NATIVE,
      redirect_uri: NATIVE_REDIRECT,
      code_verifier: verifier,
    };
    const first = await token(app, form);
    expectTokens(first, 'first redemption');
    const at = String(first.body['access_token']);
    const rt = first.body['refresh_token'];
    assert.equal(typeof rt, 'string', 'a refresh token');
    const info = await request(app).get('/adfs/userinfo').set('Authorization', `Bearer ${at}`);
    assert.equal(info.status, 200, `userinfo before the reuse: ${info.status} ${info.text}`);

    expectError(await token(app, form), 400, 'invalid_grant', 'second redemption');
    const after = await request(app).get('/adfs/userinfo').set('Authorization', `Bearer ${at}`);
    assert.equal(after.status, 401, `userinfo after the reuse: ${after.status} ${after.text}`);
    expectError(
      await token(app, {
        grant_type: 'refresh_token',
        refresh_token: String(rt),
        client_id: NATIVE,
      }),
      400,
      'invalid_grant',
      'refresh token of the first redemption',
    );
  });

  test('a public client’s refresh token reused after rotation: invalid_grant, and the rotated one dies too', async () => {
    const { code, verifier } = await codeFor(app, NATIVE, NATIVE_REDIRECT);
    const first = await token(app, {
      grant_type: 'authorization_code',
      code,
      client_id: NATIVE,
      redirect_uri: NATIVE_REDIRECT,
      code_verifier: verifier,
    });
    expectTokens(first, 'code');
    const rt1 = String(first.body['refresh_token']);
    const refresh = (rt: string) =>
      token(app, { grant_type: 'refresh_token', refresh_token: rt, client_id: NATIVE });
    const second = await refresh(rt1);
    expectTokens(second, 'first use of the refresh token');
    const rt2 = String(second.body['refresh_token']);
    assert.notEqual(rt2, rt1, 'rotated');
    expectError(await refresh(rt1), 400, 'invalid_grant', 'the replaced refresh token again');
    expectError(await refresh(rt2), 400, 'invalid_grant', 'the rotated one after the reuse');
  });

  test('wrong client secret: 401 invalid_client (basic and post)', async () => {
    const form = { grant_type: 'client_credentials', scope: `${API_A}/.default` };
    expectTokens(await token(app, form, { id: WEB, secret: WEB_SECRET }), 'basic, right secret');
    expectTokens(
      await token(app, { ...form, client_id: WEB, client_secret: WEB_SECRET }),
      'post, right secret',
    );
    const wrong = `${WEB_SECRET}x`;
    expectError(await token(app, form, { id: WEB, secret: wrong }), 401, 'invalid_client', 'basic');
    expectError(
      await token(app, { ...form, client_id: WEB, client_secret: wrong }),
      401,
      'invalid_client',
      'post',
    );
  });

  test('private_key_jwt: replayed, wrong aud, alg none, HS256 with the public key: invalid_client', async () => {
    const key = await importPKCS8(keys.keyPem, 'RS256');
    const claims = (aud: string) => ({ iss: JWT_CLIENT, sub: JWT_CLIENT, aud, jti: randomUUID() });
    const signed = (aud: string) =>
      new SignJWT(claims(aud))
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(key);
    const form = (assertion: string) => ({
      grant_type: 'client_credentials',
      scope: `${API_A}/.default`,
      client_id: JWT_CLIENT,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    // Positive twins: the issuer and the token endpoint are both accepted audiences (RFC 7523 §3, RFC 7521 §5.1).
    expectTokens(await token(app, form(await signed(issuer))), 'aud = issuer');
    const once = await signed(tokenEndpoint);
    expectTokens(await token(app, form(once)), 'aud = token endpoint');

    expectError(await token(app, form(once)), 401, 'invalid_client', 'the same assertion again');
    expectError(
      await token(app, form(await signed('https://evil.test/adfs/oauth2/token'))),
      401,
      'invalid_client',
      'wrong aud',
    );
    const none = new UnsecuredJWT(claims(issuer)).setIssuedAt().setExpirationTime('2m').encode();
    expectError(await token(app, form(none)), 401, 'invalid_client', 'alg none');
    const confused = await new SignJWT(claims(issuer))
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(new TextEncoder().encode(keys.publicPem));
    expectError(
      await token(app, form(confused)),
      401,
      'invalid_client',
      'HS256 with the public key',
    );
  });

  test('a Web API the client has no permission for: invalid_target (token and authorize)', async () => {
    const creds = { id: WEB, secret: WEB_SECRET };
    expectTokens(
      await token(app, { grant_type: 'client_credentials', scope: `${API_A}/.default` }, creds),
      'permitted API',
    );
    expectError(
      await token(app, { grant_type: 'client_credentials', scope: `${API_C}/.default` }, creds),
      400,
      'invalid_target',
      'client credentials for API C',
    );
    const { challenge } = pkce();
    const ok = await authorize(
      app,
      codeParams(WEB, WEB_REDIRECT, challenge, `openid ${API_A}/user_impersonation`),
    );
    assert.ok(ok.location?.searchParams.get('code'), 'authorize for a permitted API: a code');
    const bad = await request(app).get(
      `/adfs/oauth2/authorize?${new URLSearchParams(
        codeParams(WEB, WEB_REDIRECT, challenge, `openid ${API_C}/user_impersonation`),
      ).toString()}`,
    );
    const loc = new URL(String(bad.headers.location), 'http://x');
    assert.equal(loc.origin + loc.pathname, WEB_REDIRECT, `error to the client: ${bad.status}`);
    assert.equal(loc.searchParams.get('error'), 'invalid_target');
    assert.equal(loc.searchParams.get('code'), null);
  });

  test('a token for Web API A is not one for B (jose audience; on-behalf-of refuses it)', async () => {
    // The user's access tokens come from the code flow (a public client, as a desktop app calling the middle tier).
    const userToken = async (api: string): Promise<string> => {
      const { code, verifier } = await codeFor(
        app,
        NATIVE,
        NATIVE_REDIRECT,
        `openid ${api}/user_impersonation`,
      );
      const r = await token(app, {
        grant_type: 'authorization_code',
        code,
        client_id: NATIVE,
        redirect_uri: NATIVE_REDIRECT,
        code_verifier: verifier,
      });
      expectTokens(r, `code for ${api}`);
      return String(r.body['access_token']);
    };
    const atA = await userToken(API_A);
    const opts = { issuer: accessTokenIssuer, algorithms: ['RS256'] };
    const { payload } = await jwtVerify(atA, jwks, { ...opts, audience: API_A });
    assert.equal(payload.aud, API_A);
    await assert.rejects(
      jwtVerify(atA, jwks, { ...opts, audience: API_B }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      'jose refuses A’s token for B',
    );

    const obo = (assertion: string) =>
      token(
        app,
        {
          grant_type: OBO_GRANT,
          requested_token_use: 'on_behalf_of',
          assertion,
          scope: `${API_B}/user_impersonation`,
        },
        { id: API_A, secret: MIDDLE_SECRET },
      );
    const down = await obo(atA);
    expectTokens(down, 'on-behalf-of with a token for the middle tier');
    await jwtVerify(String(down.body['access_token']), jwks, { ...opts, audience: API_B });
    expectError(
      await obo(await userToken(API_B)),
      400,
      'invalid_grant',
      'on-behalf-of with a token whose aud is not the middle tier',
    );
  });

  test('password grant: not allowed for the client, wrong password = unknown user, audited as oauth-password', async () => {
    const form = (client: string, username: string, password: string) => ({
      grant_type: 'password',
      client_id: client,
      username,
      password,
      scope: 'openid',
    });
    expectTokens(await token(app, form(NATIVE, 'alice', 'Passw0rd!')), 'allowed client');
    // RFC 6749 §5.2 names this unauthorized_client; oidc-provider answers invalid_request before fedgate's grant
    // handler runs (the grant type is not in the client's grant_types). Either refuses; no token.
    const notAllowed = await token(app, form(NO_ROPC, 'alice', 'Passw0rd!'));
    assert.equal(notAllowed.status, 400, JSON.stringify(notAllowed.body));
    assert.ok(
      ['unauthorized_client', 'invalid_request'].includes(String(notAllowed.body['error'])),
      `client without allowPasswordGrant: ${JSON.stringify(notAllowed.body)}`,
    );
    assert.equal(notAllowed.body['access_token'], undefined);
    const before = t.logs.lines.length;
    const wrong = await token(app, form(NATIVE, 'alice', 'Wr0ng-password!'));
    const unknown = await token(app, form(NATIVE, 'nosuchuser', 'Passw0rd!'));
    expectError(wrong, 400, 'invalid_grant', 'wrong password');
    expectError(unknown, 400, 'invalid_grant', 'unknown user');
    assert.equal(wrong.body['error_description'], unknown.body['error_description']);
    const failures = t.logs.lines
      .slice(before)
      .filter((l) => l['event'] === 'signin' && l['method'] === 'oauth-password');
    assert.equal(failures.length, 2, JSON.stringify(failures));
  });
});

describe('OIDC password grant: the lockout counts (issue 19)', () => {
  test('after threshold bad passwords the right one is refused too', async () => {
    const keys = clientKeyPair();
    const t = await makeTestApp({
      ...groups(keys.certFile),
      lockout: { threshold: 2 },
    });
    try {
      const form = (password: string) => ({
        grant_type: 'password',
        client_id: NATIVE,
        username: 'bob',
        password,
        scope: 'openid',
      });
      expectTokens(await token(t.app, form('Passw0rd!')), 'bob before any failure');
      for (let i = 0; i < 2; i++)
        expectError(await token(t.app, form(`Wr0ng-${i}`)), 400, 'invalid_grant', `bad ${i}`);
      expectError(
        await token(t.app, form('Passw0rd!')),
        400,
        'invalid_grant',
        'the right password once locked out',
      );
      const lines = t.logs.lines.filter((l) => l['method'] === 'oauth-password');
      assert.ok(
        t.logs.lines.some((l) => l['event'] === 'extranet_lockout'),
        `an extranet_lockout line: ${JSON.stringify(lines.slice(-2))}`,
      );
    } finally {
      await t.close();
    }
  });
});

describe('OIDC device code (issue 19)', () => {
  let t: TestApp;
  let clock: FixedClock;
  before(async () => {
    const keys = clientKeyPair();
    // fedgate's store runs on this clock (held still, so nothing expires from the store); oidc-provider reads
    // Date.now() itself, which the expiry test moves with node:test's mock timers.
    clock = new FixedClock(Date.now());
    t = await makeTestApp(groups(keys.certFile), { clock });
  });
  after(async () => {
    await t.close();
  });
  const start = async () => {
    const r = await request(t.app)
      .post('/adfs/oauth2/devicecode')
      .type('form')
      .send({ client_id: NATIVE, scope: 'openid' });
    assert.equal(r.status, 200, `device authorization: ${r.status} ${r.text}`);
    return String((r.body as Json)['device_code']);
  };
  const poll = (deviceCode: string) =>
    token(t.app, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: NATIVE });

  test('polled too fast: slow_down (RFC 8628 §3.5)', async () => {
    const dc = await start();
    expectError(await poll(dc), 400, 'authorization_pending', 'first poll');
    expectError(await poll(dc), 400, 'slow_down', 'second poll at once');
    // The twin: the same device code polled again after the interval it was given.
    clock.advance(t.config.oauth.deviceCodePollIntervalSeconds * 1000);
    expectError(await poll(dc), 400, 'authorization_pending', 'a poll after the interval');
  });

  test('expired device code: expired_token', async (tc) => {
    const dc = await start();
    tc.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    expectError(await poll(dc), 400, 'authorization_pending', 'within its lifetime');
    // Time passes for everyone: oidc-provider's Date.now() and fedgate's clock (its store) alike.
    const lifetime = t.config.oauth.deviceCodeLifetimeMinutes * 60_000 + 61_000;
    tc.mock.timers.tick(lifetime);
    clock.advance(lifetime);
    // RFC 8628 §3.5: expired_token. Fails today: the store drops the DeviceCode record at its expiry, so the
    // provider finds nothing and answers invalid_grant (reported to the lead; the record must outlive its expiry).
    expectError(await poll(dc), 400, 'expired_token', 'after its lifetime');
  });
});
