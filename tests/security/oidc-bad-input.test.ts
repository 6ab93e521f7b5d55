import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

// Bad input to every OAuth path (issue 19; non-negotiable: no 5xx other than a deliberate 503, no stack trace):
// malformed encodings, repeated and oversized parameters, garbage credentials and tokens, unknown paths under the
// OAuth routes. oidc-provider answers most of them itself; the cases here also cover what fedgate adds in front of
// it (scope rewriting, .default expansion, the client named in a Basic header or an assertion, slow_down) and one
// oidc-provider path that answered 500 (a device-code form posted without a session).

const cases = (app: Express): [string, () => request.Test][] => [
  ['bad pct query', () => request(app).get('/adfs/oauth2/authorize?client_id=%E0%A4%A&scope=%ZZ')],
  [
    'repeated scope',
    () =>
      request(app).get('/adfs/oauth2/authorize?client_id=dev-1&scope=a&scope=b&response_type=code'),
  ],
  [
    'huge scope',
    () =>
      request(app).get(
        '/adfs/oauth2/authorize?client_id=dev-1&response_type=code&scope=' +
          'https://api2.test/x%20'.repeat(300),
      ),
  ],
  [
    'bad body',
    () => request(app).post('/adfs/oauth2/token').type('form').send('grant_type=%ZZ&scope=%'),
  ],
  ['json body', () => request(app).post('/adfs/oauth2/token').type('json').send('{"grant_type":')],
  [
    'big body',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .type('form')
        .send('scope=' + 'a'.repeat(100000)),
  ],
  [
    'basic garbage',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .set('Authorization', 'Basic %%%')
        .type('form')
        .send('grant_type=client_credentials&scope=https://api2.test/.default'),
  ],
  [
    'basic bad pct',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .set('Authorization', 'Basic ' + Buffer.from('%E0:x').toString('base64'))
        .type('form')
        .send('grant_type=client_credentials&scope=https://api2.test/.default'),
  ],
  [
    'assertion garbage',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .type('form')
        .send(
          'grant_type=client_credentials&scope=https://api2.test/.default&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c',
        ),
  ],
  [
    'obo garbage',
    () =>
      request(app).post('/adfs/oauth2/token').type('form').send({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        client_id: 'srv',
        client_secret: 'x',
        assertion: 'x',
        requested_token_use: 'on_behalf_of',
      }),
  ],
  [
    'password arrays',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .type('form')
        .send('grant_type=password&client_id=dev-1&username=a&username=b&password=c'),
  ],
  ['interaction garbage', () => request(app).get('/adfs/oauth2/interaction/' + 'x'.repeat(300))],
  ['interaction empty', () => request(app).get('/adfs/oauth2/interaction/')],
  [
    'logout garbage',
    () =>
      request(app).get(
        '/adfs/oauth2/logout?id_token_hint=abc&post_logout_redirect_uri=https://evil.test/',
      ),
  ],
  [
    'logout confirm no xsrf',
    () => request(app).post('/adfs/oauth2/logout/confirm').type('form').send('logout=yes'),
  ],
  [
    'deviceauth bad',
    () => request(app).post('/adfs/oauth2/deviceauth').type('form').send('user_code=AAAA&xsrf=1'),
  ],
  [
    'devicecode no client',
    () => request(app).post('/adfs/oauth2/devicecode').type('form').send('scope=openid'),
  ],
  [
    'userinfo garbage',
    () =>
      request(app)
        .get('/adfs/userinfo')
        .set('Authorization', 'Bearer ' + 'x'.repeat(5000)),
  ],
  ['introspect', () => request(app).post('/adfs/oauth2/introspect').type('form').send('token=abc')],
  ['keys post', () => request(app).post('/adfs/discovery/keys')],
  ['upper path', () => request(app).get('/ADFS/OAUTH2/AUTHORIZE?client_id=dev-1')],
  ['discovery trailing', () => request(app).get('/adfs/.well-known/openid-configuration/')],
  ['resume garbage', () => request(app).get('/adfs/oauth2/authorize/abc')],
  ['token get', () => request(app).get('/adfs/oauth2/token')],
  [
    'resource fragment',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .type('form')
        .send(
          'grant_type=client_credentials&client_id=srv&client_secret=x&resource=https://api2.test/%23x',
        ),
  ],
  [
    'resource nonuri',
    () =>
      request(app)
        .post('/adfs/oauth2/token')
        .type('form')
        .send(
          'grant_type=password&client_id=dev-1&username=alice&password=Passw0rd!&resource=notauri',
        ),
  ],
];

describe('OAuth endpoints: bad input gets a clear 4xx, never a 5xx or a stack trace', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp({
      oauth: {
        applicationGroups: [
          {
            name: 'D',
            nativeClients: [
              { name: 'dev', clientId: 'dev-1', redirectUris: ['http://localhost:5000/cb'] },
            ],
            serverApplications: [
              { name: 's', clientId: 'srv', clientSecrets: ['sha256:' + 'A'.repeat(43)] },
            ],
            webApis: [
              {
                name: 'api',
                identifiers: ['https://api2.test'],
                permissions: [{ client: '*', scopes: ['user_impersonation'] }],
              },
            ],
          },
        ],
      },
    });
  });
  after(() => t.close());

  test('each case answers below 500 without a stack trace', async () => {
    for (const [name, f] of cases(t.app)) {
      const r = await f();
      assert.ok(r.status < 500, `${name}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.doesNotMatch(r.text, /\bat [\w.<>]+ \(|\.[jt]s:\d+:\d+/, `${name}: a stack trace`);
    }
  });

  test('a device-code form posted without a session gets the code page afresh (oidc-provider answered 500)', async () => {
    const r = await request(t.app)
      .post('/adfs/oauth2/deviceauth')
      .type('form')
      .send('user_code=AAAA&xsrf=1');
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/adfs/oauth2/deviceauth');
  });
});
