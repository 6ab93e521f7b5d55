// The real client: Microsoft's MSAL for Python (Debian python3-msal, installed by tests/setup/msal.sh) with
// authority https://<host>/adfs, against fedgate's OpenID Connect / OAuth 2.0 endpoints (issue 19) on a real HTTPS
// socket, users of the real Samba AD DC, the browser steps in real Chromium. Every JWT MSAL receives is verified
// twice, never by fedgate's code: by PyJWT in the driver (tests/interop/msal_oidc.py) and by jose here, both with
// the keys of the jwks_uri named by discovery (signature, iss, aud, exp).
import { opensslSelfSigned } from '../helpers/pki.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test, type TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import type { Page } from 'playwright-core';
import { freePort } from '../helpers/net.ts';
import {
  browserAuthorize,
  clientSecretHash,
  discovery,
  remoteJwks,
  submitSignInPage,
  startOidcSite,
  verifyJwt,
  type Discovery,
  type OidcSite,
} from '../helpers/oidc.ts';
import type { SambaUser } from '../helpers/samba.ts';

const DRIVER = new URL('./msal_oidc.py', import.meta.url).pathname;

// AD FS application group identifiers are GUIDs; fixed ones keep failures readable.
const NATIVE = '6731de76-14a6-49ae-97bc-6eba6914391e';
const NO_ROPC = 'c5ad4a0b-7fa4-4d67-9ad2-2b0b57f1d9a1';
// Server applications: a web app with a secret, one with a certificate (each with the redirect URI AD FS's wizard
// asks for), and a daemon as Add-AdfsServerApplication also allows it: no redirect URI, a secret and a certificate.
const WEBAPP = '0f4c3bdf-8a1e-4a0f-9b3c-0d8e1b0c7e21';
const CERTAPP = '9b1d2e7a-3c4f-4e5a-8b6c-7d8e9f0a1b2c';
const DAEMON = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';
const DAEMON_SECRET = 'Jt4x-daemon-secret-9Qk2m7Wc1vLp8sZr';
const APP_REDIRECT = 'https://expenses.contoso.test/signin-oidc';
const API = 'https://api.contoso.test';
const SCOPE = `${API}/user_impersonation`;

const UPN_T = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const EMAIL_T = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';
const GIVEN_T = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname';
const SURNAME_T = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname';
const GROUP_T = 'http://schemas.xmlsoap.org/claims/Group';
const ROLE_T = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';

// The Web API's issuance transform rules, as Get-AdfsWebApiApplication prints them: LDAP attributes from AD, and a
// role for members of Finance (the rule language decides the access token's claims).
const RULES = `@RuleTemplate = "LdapClaims"
@RuleName = "AD attributes"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("${UPN_T}", "${EMAIL_T}", "${GIVEN_T}", "${SURNAME_T}", "${GROUP_T}"), query = ";userPrincipalName,mail,givenName,sn,tokenGroups;{0}", param = c.Value);

@RuleName = "Finance approvers"
c:[Type == "${GROUP_T}", Value == "Finance"]
 => issue(Type = "${ROLE_T}", Value = "ExpenseApprover");
`;

type Json = Record<string, unknown>;

/** An MSAL answer for an assertion message: tokens cut short (they are long and say nothing to a reader). */
function brief(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'string' && x.length > 60 ? `${x.slice(0, 24)}…` : x,
  );
}

interface Verified {
  header?: Json;
  claims?: Json;
  error?: string;
}

interface CallReport {
  call: string;
  result: Json;
  verified: { id_token?: Verified; access_token?: Verified };
}

interface HttpEntry {
  method: string;
  url: string;
  status: number;
  grant_type?: string;
  sent?: string[];
  error?: string;
}

/**
 * One run of the driver: JSON lines in both directions. `next(pred)` waits for the next line matching `pred`
 * (lines are kept in order, so nothing is missed between awaits); `finish()` collects the rest.
 */
class MsalRun {
  readonly lines: Json[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  #read = 0;
  #wake: (() => void) | undefined;
  #stderr = '';
  #exit: number | null | undefined;

  constructor(command: string, request: Json, caFile: string) {
    // Debian's python3 (where python3-msal lives), not whatever python3 is first on PATH.
    this.#child = spawn('/usr/bin/python3', [DRIVER, command], {
      env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: caFile, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.lines.push(JSON.parse(line) as Json);
      this.#wake?.();
    });
    this.#child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString('utf8')));
    this.#child.on('close', (code) => {
      this.#exit = code;
      this.#wake?.();
    });
    this.#child.stdin.write(`${JSON.stringify(request)}\n`);
  }

  send(obj: Json): void {
    this.#child.stdin.write(`${JSON.stringify(obj)}\n`);
  }

  /** The next line for which `pred` holds (lines before it are skipped); fails if the driver exits first. */
  async next(pred: (l: Json) => boolean, what: string): Promise<Json> {
    for (;;) {
      while (this.#read < this.lines.length) {
        const line = this.lines[this.#read++]!;
        if (pred(line)) return line;
      }
      if (this.#exit !== undefined)
        throw new Error(
          `msal driver exited (${String(this.#exit)}) before ${what}: ${this.#stderr.slice(-3000)}`,
        );
      await new Promise<void>((ok) => (this.#wake = ok));
    }
  }

  async finish(): Promise<{ header: Json; calls: CallReport[]; http: HttpEntry[] }> {
    this.#child.stdin.end();
    const done = await this.next((l) => 'done' in l, 'the end');
    return {
      header: this.lines.find((l) => 'msal_version' in l) ?? {},
      calls: this.lines.filter((l) => 'call' in l) as unknown as CallReport[],
      http: done.http as HttpEntry[],
    };
  }

  kill(): void {
    if (this.#exit === undefined) this.#child.kill();
  }
}

describe('MSAL for Python against fedgate OpenID Connect / OAuth 2.0 (authority https://<host>/adfs, real HTTPS, real AD, Chromium)', () => {
  let site: OidcSite;
  let d: Discovery;
  let jwks: Awaited<ReturnType<typeof remoteJwks>>;
  let redirectUri: string;
  let daemonKeyPem: string;
  let daemonThumbprint: string;
  let jdoe: SambaUser;
  const runs: MsalRun[] = [];

  before(async () => {
    redirectUri = `http://localhost:${await freePort()}`;
    site = await startOidcSite(
      {
        oauth: {
          // MSAL waits the interval the server names; fedgate answers slow_down to a poll more than a second early.
          deviceCodePollIntervalSeconds: 2,
          applicationGroups: [
            {
              name: 'Contoso Expenses',
              nativeClients: [
                {
                  name: 'Expenses desktop',
                  clientId: NATIVE,
                  redirectUris: [redirectUri],
                  allowPasswordGrant: true,
                },
                { name: 'Kiosk', clientId: NO_ROPC, redirectUris: [redirectUri] },
              ],
              serverApplications: [
                {
                  name: 'Expenses web app',
                  clientId: WEBAPP,
                  redirectUris: [APP_REDIRECT],
                  clientSecrets: [clientSecretHash(DAEMON_SECRET)],
                },
                {
                  name: 'Expenses reports',
                  clientId: CERTAPP,
                  redirectUris: [APP_REDIRECT],
                  jwtSigningCertificateFiles: ['daemon.crt'],
                },
                {
                  name: 'Expenses daemon',
                  clientId: DAEMON,
                  clientSecrets: [clientSecretHash(DAEMON_SECRET)],
                  jwtSigningCertificateFiles: ['daemon.crt'],
                },
              ],
              webApis: [
                {
                  name: 'Expenses API',
                  identifiers: [API],
                  issuanceRules: RULES,
                  permissions: [
                    {
                      client: NATIVE,
                      scopes: ['openid', 'profile', 'email', 'user_impersonation'],
                    },
                    { client: NO_ROPC, scopes: ['openid', 'profile', 'user_impersonation'] },
                    { client: WEBAPP, scopes: ['user_impersonation'] },
                    { client: CERTAPP, scopes: ['user_impersonation'] },
                    { client: DAEMON, scopes: ['user_impersonation'] },
                  ],
                },
              ],
            },
          ],
        },
      },
      {
        // The daemon's private_key_jwt certificate, made with the openssl CLI; fedgate gets only the certificate.
        prepare: (dir) => {
          opensslSelfSigned(dir, 'daemon', 'Expenses daemon');
        },
      },
    );
    daemonKeyPem = readFileSync(join(site.dir, 'daemon.key'), 'utf8');
    daemonThumbprint = new X509Certificate(
      readFileSync(join(site.dir, 'daemon.crt')),
    ).fingerprint.replace(/:/g, '');
    d = await discovery(site);
    jwks = await remoteJwks(site);
    jdoe = site.env.users.jdoe;
  });
  after(async () => {
    for (const r of runs) r.kill();
    await site.close();
  });

  const msal = (command: string, request: Json): MsalRun => {
    const run = new MsalRun(
      command,
      {
        authority: site.authority,
        resolve: { [site.host]: '127.0.0.1' },
        expect: {
          id_token_issuer: site.authority,
          access_token_issuer: `http://${site.host}/adfs/services/trust`,
          audience: API,
        },
        ...request,
      },
      site.caFile,
    );
    runs.push(run);
    return run;
  };

  /** MSAL's and PyJWT's view, then jose's: both tokens of a successful answer, with their claims. */
  async function tokensOf(
    c: CallReport | undefined,
    clientId: string,
  ): Promise<{ id?: Json; at: Json; result: Json }> {
    assert.ok(c, 'MSAL made the call');
    assert.ok(typeof c.result.access_token === 'string', `${c.call}: ${brief(c.result)}`);
    const atPy = c.verified.access_token;
    assert.ok(atPy?.claims, `${c.call}: PyJWT refused the access token: ${atPy?.error ?? ''}`);
    const at = await verifyJwt(jwks, c.result.access_token, {
      issuer: `http://${site.host}/adfs/services/trust`,
      audience: API,
    });
    assert.deepEqual(at.payload, atPy.claims, 'PyJWT and jose read the same access token');
    assert.equal(at.protectedHeader.alg, 'RS256');
    let id: Json | undefined;
    if (typeof c.result.id_token === 'string') {
      const idPy = c.verified.id_token;
      assert.ok(idPy?.claims, `${c.call}: PyJWT refused the ID token: ${idPy?.error ?? ''}`);
      const idJose = await verifyJwt(jwks, c.result.id_token, {
        issuer: site.authority,
        audience: clientId,
      });
      assert.deepEqual(idJose.payload, idPy.claims);
      id = idJose.payload;
    }
    return { ...(id === undefined ? {} : { id }), at: at.payload, result: c.result };
  }

  const call = (calls: CallReport[], name: string): CallReport | undefined =>
    calls.find((c) => c.call === name);

  /** What the Web API's rules give John Doe, and what AD FS adds to every access token for a user. */
  function assertUserAccessToken(at: Json, clientId: string, user: SambaUser): void {
    assert.equal(at.aud, API);
    assert.equal(at.iss, `http://${site.host}/adfs/services/trust`);
    assert.equal(at.upn, user.upn);
    assert.equal(at.email, `john.doe@${site.env.upnSuffix}`);
    assert.equal(at.given_name, 'John');
    assert.equal(at.family_name, 'Doe');
    assert.ok([at.group].flat().includes('Finance'), `group: ${JSON.stringify(at.group)}`);
    assert.ok([at.role].flat().includes('ExpenseApprover'), `role: ${JSON.stringify(at.role)}`);
    assert.equal(at.appid, clientId);
    assert.equal(at.apptype, 'Public');
    assert.equal(at.ver, '1.0');
    assert.ok(String(at.scp).split(' ').includes('user_impersonation'), `scp: ${String(at.scp)}`);
    // AD FS writes an access token's auth_time as an ISO 8601 instant (an ID token's as seconds, OIDC Core §2).
    assert.ok(
      typeof at.auth_time === 'number' || !Number.isNaN(Date.parse(String(at.auth_time))),
      `auth_time: ${String(at.auth_time)}`,
    );
    assert.match(String(at.authmethod), /password/i);
  }

  function assertIdToken(id: Json | undefined, clientId: string, user: SambaUser): void {
    assert.ok(id, 'an ID token');
    assert.equal(id.iss, site.authority);
    assert.equal(id.aud, clientId);
    assert.equal(typeof id.sub, 'string');
    assert.ok(String(id.sub).length > 0);
    assert.equal(id.upn, user.upn);
    assert.equal(id.unique_name, `${site.env.netbiosDomain}\\jdoe`);
    assert.equal(typeof id.auth_time, 'number');
  }

  const noteVersion = (t: TestContext, run: MsalRun): void => {
    const h = run.lines.find((l) => 'msal_version' in l) ?? {};
    t.diagnostic(`MSAL for Python ${String(h.msal_version)}, PyJWT ${String(h.pyjwt_version)}`);
  };

  test('discovery and JWKS as MSAL and relying parties read them', async (t) => {
    assert.equal(d.issuer, site.authority);
    assert.equal(d.authorization_endpoint, `${site.authority}/oauth2/authorize`);
    assert.equal(d.token_endpoint, `${site.authority}/oauth2/token`);
    assert.equal(d.jwks_uri, `${site.authority}/discovery/keys`);
    assert.equal(d.device_authorization_endpoint, `${site.authority}/oauth2/devicecode`);
    assert.equal(d.userinfo_endpoint, `${site.authority}/userinfo`);
    assert.equal(d.end_session_endpoint, `${site.authority}/oauth2/logout`);
    assert.equal(d.access_token_issuer, `http://${site.host}/adfs/services/trust`);
    // The driver's own check of the JWKS: kid = x5t = SHA-1 thumbprint of x5c[0], which holds the key.
    const run = msal('client', {
      client_id: WEBAPP,
      credential: DAEMON_SECRET,
      scopes: [`${API}/.default`],
    });
    const { header } = await run.finish();
    noteVersion(t, run);
    assert.deepEqual(header.key_problems, []);
    const keys = (header.jwks as { keys: Json[] }).keys;
    assert.ok(keys.length >= 1);
    for (const k of keys) {
      const cert = new X509Certificate(Buffer.from(String((k.x5c as string[])[0]), 'base64'));
      const thumb = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
      assert.equal(k.kid, thumb);
      assert.equal(k.x5t, thumb);
    }
  });

  test('1. interactive authorization code + PKCE: initiate_auth_code_flow, sign-in in Chromium, acquire_token_by_auth_code_flow; then refresh (5)', async (t) => {
    const run = msal('auth-code', {
      client_id: NATIVE,
      scopes: [SCOPE],
      redirect_uri: redirectUri,
      refresh: true,
    });
    const step = await run.next((l) => l.step === 'authorize', 'the authorize step');
    noteVersion(t, run);
    const authUri = new URL(String(step.auth_uri));
    assert.equal(`${authUri.origin}${authUri.pathname}`, d.authorization_endpoint);
    // What MSAL asked for: PKCE S256, its nonce, and the scope with MSAL's reserved ones.
    assert.equal(authUri.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authUri.searchParams.get('response_type'), 'code');
    const nonce = authUri.searchParams.get('nonce');
    assert.ok(nonce);
    assert.deepEqual(
      (authUri.searchParams.get('scope') ?? '').split(' ').sort(),
      ['offline_access', 'openid', 'profile', SCOPE].sort(),
    );

    const { redirect, page } = await browserAuthorize(site, authUri.href, jdoe, redirectUri);
    await page.context().close();
    assert.ok(redirect.searchParams.get('code'), `redirect: ${redirect.href}`);
    assert.equal(redirect.searchParams.get('state'), authUri.searchParams.get('state'));
    run.send({ auth_response: Object.fromEntries(redirect.searchParams) });
    const { calls, http } = await run.finish();

    const first = await tokensOf(call(calls, 'acquire_token_by_auth_code_flow'), NATIVE);
    assertUserAccessToken(first.at, NATIVE, jdoe);
    assertIdToken(first.id, NATIVE, jdoe);
    assert.ok(first.id);
    // MSAL checked the nonce itself (it raises otherwise); the ID token carries the one in the request.
    assert.equal(first.id.nonce, nonce);
    // One subject for the user in both tokens of the answer.
    assert.equal(first.id.sub, first.at.sub);
    assert.equal(typeof first.id.sid, 'string');
    assert.equal(first.result.token_type, 'Bearer');
    assert.equal(typeof first.result.refresh_token, 'string');
    // The token request MSAL sent carried the PKCE verifier.
    const redeem = http.find((h) => h.grant_type === 'authorization_code');
    assert.ok(redeem?.sent?.includes('code_verifier'), JSON.stringify(redeem));

    // 5. refresh: acquire_token_silent answers from MSAL's cache, or redeems the refresh token MSAL holds when no
    // cached access token's scope matches (MSAL compares the response's scope with the requested one); force_refresh
    // redeems it in any case; acquire_token_by_refresh_token with the newest one. Each access token verifies and
    // carries the Web API's claims.
    const accounts = call(calls, 'get_accounts')?.result as unknown as Json[];
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0]?.username, jdoe.upn);
    const silent = await tokensOf(call(calls, 'acquire_token_silent'), NATIVE);
    assertUserAccessToken(silent.at, NATIVE, jdoe);
    const forced = await tokensOf(call(calls, 'acquire_token_silent(force_refresh)'), NATIVE);
    assert.notEqual(forced.result.access_token, first.result.access_token);
    assertUserAccessToken(forced.at, NATIVE, jdoe);
    const byRt = await tokensOf(call(calls, 'acquire_token_by_refresh_token'), NATIVE);
    assert.notEqual(byRt.result.access_token, forced.result.access_token);
    assertUserAccessToken(byRt.at, NATIVE, jdoe);
    const refreshes = http.filter((h) => h.grant_type === 'refresh_token');
    assert.ok(refreshes.length >= 2, JSON.stringify(refreshes));
    // A public client's refresh token rotates (oauth.rotateRefreshTokens: public): the first one, replaced, is
    // refused when MSAL presents it again, and that reuse revokes the grant (RFC 9700 §4.14.2).
    assert.notEqual(forced.result.refresh_token, first.result.refresh_token);
    const reused = call(calls, 'acquire_token_by_refresh_token(first, reused)');
    assert.equal(reused?.result.error, 'invalid_grant', brief(reused?.result));
    const afterReuse = call(calls, 'acquire_token_by_refresh_token(after reuse)');
    assert.equal(afterReuse?.result.error, 'invalid_grant', brief(afterReuse?.result));
  });

  test('2. device flow: initiate_device_flow, user code entered in Chromium, acquire_token_by_device_flow polls', async (t) => {
    const run = msal('device', { client_id: NATIVE, scopes: [SCOPE] });
    const step = await run.next((l) => l.step === 'device', 'the device step');
    noteVersion(t, run);
    const flow = step.flow as Json;
    assert.equal(typeof flow.user_code, 'string', JSON.stringify(flow));
    assert.equal(flow.verification_uri, `${site.authority}/oauth2/deviceauth`);
    // The device authorization response's interval (RFC 8628 §3.2), which MSAL waits between polls.
    assert.equal(flow.interval, 2);
    // MSAL polls before the user has done anything: the first poll is answered authorization_pending. Waiting for it
    // makes the order certain (no sleeps).
    const pending = await run.next(
      (l) =>
        (l.http as HttpEntry | undefined)?.grant_type ===
        'urn:ietf:params:oauth:grant-type:device_code',
      'the first device-code poll',
    );
    assert.equal((pending.http as HttpEntry).error, 'authorization_pending');

    const ctx = await (await site.browser()).newContext();
    const page = await ctx.newPage();
    await page.goto(flow.verification_uri);
    const shown = await deviceUserStep(page, String(flow.user_code));
    const { calls, http } = await run.finish();
    await ctx.close();

    const got = await tokensOf(call(calls, 'acquire_token_by_device_flow'), NATIVE);
    assertUserAccessToken(got.at, NATIVE, jdoe);
    assertIdToken(got.id, NATIVE, jdoe);
    const polls = http.filter(
      (h) => h.grant_type === 'urn:ietf:params:oauth:grant-type:device_code',
    );
    assert.equal(polls.at(-1)?.status, 200);
    assert.ok(
      polls.slice(0, -1).every((p) => p.error === 'authorization_pending'),
      JSON.stringify(polls),
    );
    // Before anything was issued the user saw which application and which code they were approving (RFC 8628
    // §5.4, remote phishing).
    assert.deepEqual(shown.confirmed, { application: 'Expenses desktop', code: flow.user_code });
  });

  /**
   * The user's side on /adfs/oauth2/deviceauth: the code, then whatever fedgate asks next (the confirmation of
   * application and code, the sign-in) until it says the device is signed in. Returns what the confirmation showed.
   */
  async function deviceUserStep(
    page: Page,
    code: string,
  ): Promise<{ confirmed?: { application: string; code: string } }> {
    await page.fill('#userCodeInput', code);
    await page.click('#nextButton');
    const out: { confirmed?: { application: string; code: string } } = {};
    for (let step = 0; step < 4; step++) {
      const at = page.locator('#deviceAllow, #passwordInput, #deviceDone').first();
      await at.waitFor({ timeout: 15_000 }).catch(async (e: unknown) => {
        throw new Error(
          `device step ${step}: the browser is at ${page.url()}: ${(await page.textContent('main'))?.replace(/\s+/g, ' ').slice(0, 500) ?? ''}`,
          { cause: e },
        );
      });
      const id = await at.getAttribute('id');
      if (id === 'deviceDone') return out;
      if (id === 'deviceAllow') {
        out.confirmed = {
          application: ((await page.textContent('#deviceApplication')) ?? '').trim(),
          code: ((await page.textContent('#deviceUserCode')) ?? '').trim(),
        };
        await page.click('#deviceAllow');
      } else await submitSignInPage(page, jdoe);
    }
    throw new Error(`the device sign-in did not finish; the browser is at ${page.url()}`);
  }

  test('3. username/password: acquire_token_by_username_password; a wrong password (invalid_grant); a client without allowPasswordGrant (unauthorized_client)', async (t) => {
    // The one wrong password for jdoe in this file comes first: the successful bind after it clears AD's
    // badPwdCount (tests/helpers/samba.ts lockout budget).
    const wrong = msal('password', {
      client_id: NATIVE,
      scopes: [SCOPE],
      username: jdoe.upn,
      password: `${jdoe.password}-wrong`,
    });
    const wrongOut = await wrong.finish();
    noteVersion(t, wrong);
    const refused = call(wrongOut.calls, 'acquire_token_by_username_password');
    assert.equal(refused?.result.error, 'invalid_grant', brief(refused?.result));
    assert.equal(refused.result.access_token, undefined);

    const ok = msal('password', {
      client_id: NATIVE,
      scopes: [SCOPE],
      username: jdoe.upn,
      password: jdoe.password,
    });
    const okOut = await ok.finish();
    const got = await tokensOf(call(okOut.calls, 'acquire_token_by_username_password'), NATIVE);
    assertUserAccessToken(got.at, NATIVE, jdoe);
    assertIdToken(got.id, NATIVE, jdoe);
    const ropc = okOut.http.find((h) => h.grant_type === 'password');
    assert.equal(ropc?.status, 200);

    // The right password, on a client whose application group does not allow the grant.
    const kiosk = msal('password', {
      client_id: NO_ROPC,
      scopes: [SCOPE],
      username: jdoe.upn,
      password: jdoe.password,
    });
    const kioskOut = await kiosk.finish();
    const denied = call(kioskOut.calls, 'acquire_token_by_username_password');
    assert.equal(denied?.result.error, 'unauthorized_client', brief(denied?.result));
    assert.equal(denied.result.access_token, undefined);
  });

  /** acquire_token_for_client for `<API>/.default`: an application's access token, checked as the API would. */
  async function clientCredentials(
    t: TestContext,
    clientId: string,
    how: 'secret' | 'certificate',
  ): Promise<void> {
    const credential =
      how === 'secret'
        ? DAEMON_SECRET
        : { private_key: daemonKeyPem, thumbprint: daemonThumbprint };
    const run = msal('client', { client_id: clientId, credential, scopes: [`${API}/.default`] });
    const { calls, http } = await run.finish();
    noteVersion(t, run);
    const got = await tokensOf(call(calls, 'acquire_token_for_client'), clientId);
    assert.equal(got.id, undefined, `${how}: no ID token for an application`);
    assert.equal(got.result.refresh_token, undefined, `${how}: no refresh token`);
    assert.equal(got.at.aud, API);
    assert.equal(got.at.appid, clientId);
    assert.equal(got.at.apptype, 'Confidential');
    assert.equal(got.at.upn, undefined, `${how}: no user`);
    // .default = every scope the application was granted at the API.
    assert.ok(
      String(got.at.scp).split(' ').includes('user_impersonation'),
      `scp: ${String(got.at.scp)}`,
    );
    const sent = http.find((h) => h.grant_type === 'client_credentials')?.sent ?? [];
    if (how === 'secret') assert.ok(sent.includes('client_secret'), sent.join(','));
    else {
      assert.ok(sent.includes('client_assertion'), sent.join(','));
      assert.ok(!sent.includes('client_secret'));
    }
  }

  test('4. client credentials: ConfidentialClientApplication with a secret', async (t) => {
    await clientCredentials(t, WEBAPP, 'secret');
  });

  test('4. client credentials: ConfidentialClientApplication with a certificate (private_key_jwt, x5t = thumbprint)', async (t) => {
    await clientCredentials(t, CERTAPP, 'certificate');
  });

  test('4. client credentials: a daemon without redirect URI, holding a secret and a certificate, may use either', async (t) => {
    await clientCredentials(t, DAEMON, 'secret');
    await clientCredentials(t, DAEMON, 'certificate');
  });

  test('4b. client credentials refused: a wrong secret, a certificate fedgate does not hold (invalid_client)', async () => {
    const otherKey = execFileSync(
      'openssl',
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      { encoding: 'utf8', stdio: 'pipe' },
    );
    for (const [how, clientId, credential] of [
      ['wrong secret', WEBAPP, `${DAEMON_SECRET}x`],
      // A key fedgate does not hold, presented under the registered certificate's thumbprint.
      ['unknown key', CERTAPP, { private_key: otherKey, thumbprint: daemonThumbprint }],
    ] as const) {
      const run = msal('client', { client_id: clientId, credential, scopes: [`${API}/.default`] });
      const { calls } = await run.finish();
      const c = call(calls, 'acquire_token_for_client');
      assert.equal(c?.result.error, 'invalid_client', `${how}: ${brief(c?.result)}`);
      assert.equal(c.result.access_token, undefined);
    }
  });

  test('controls: jose refuses an access token MSAL got under the wrong issuer or audience, or with a changed signature', async () => {
    // A control for the verifiers above: jose refuses an access token where an ID token is expected (iss and aud
    // differ), so their acceptance means the claims were checked.
    const run = msal('client', {
      client_id: WEBAPP,
      credential: DAEMON_SECRET,
      scopes: [`${API}/.default`],
    });
    const { calls } = await run.finish();
    const token = String(call(calls, 'acquire_token_for_client')?.result.access_token);
    assert.equal(decodeJwt(token).aud, API);
    await assert.rejects(verifyJwt(jwks, token, { issuer: site.authority, audience: API }), /iss/);
    await assert.rejects(
      verifyJwt(jwks, token, {
        issuer: `http://${site.host}/adfs/services/trust`,
        audience: WEBAPP,
      }),
      /aud/,
    );
    const [h, p] = token.split('.');
    await assert.rejects(
      verifyJwt(jwks, `${h}.${p}.${Buffer.from('forged').toString('base64url')}`, {
        issuer: `http://${site.host}/adfs/services/trust`,
        audience: API,
      }),
      /signature/,
    );
  });
});
