/**
 * Shared pieces of the MFA end-to-end tests (tests/e2e/mfa-*.test.ts, issue 16): fedgate served over real TLS at a
 * real host name for headless Chromium, its directory the Samba AD DC with enrolments in the attribute samba.sh
 * grants svc-fedgate write access to, TOTP codes from Debian's oathtool, and what the browser posts to Entra read
 * by independent verifiers (xml-crypto and xmlsec1 with the pinned certificate).
 *
 * Each test file gets its own AD account, created here as Administrator over LDAPS (an AD admin's ldapmodify):
 * samba.sh's mfa1..mfa3 are rewritten by other test files that may run at the same time, and the write grant on
 * the MFA attribute is inherited by every user object under CN=Users, so a new account gets it too.
 */
import type { Services } from '../../server/services.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createDecipheriv, hkdfSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  decideMfa,
  type MfaDecision,
  type MfaReason,
  type MfaRuleSets,
} from '../../server/authn/mfa/policy.ts';
import type { ClaimsEngine } from '../../server/claims/engine.ts';
import type { RequestContext } from '../../server/claims/input-claims.ts';
import { AuthMethods } from '../../server/claims/types.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { DirectoryUser } from '../../server/directory/types.ts';
import type { Clock } from '../../server/lib/clock.ts';
import request from 'supertest';
import { hidden, makeTestApp, type Jar, type TestApp } from './app.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from './browser.ts';
import { freePort } from './net.ts';
import { adminModify } from './account-protection.ts';
import {
  ldapsearchAsAdmin,
  ldifTextValue,
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from './samba.ts';
import {
  SAML11_ID_ATTR,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from './verify.ts';

export const MFA_ATTRIBUTE = 'msDS-cloudExtensionAttribute10';
export const AMR = 'http://schemas.microsoft.com/claims/authnmethodsreferences';
export const MFA_INSTANT =
  'http://schemas.microsoft.com/ws/2017/04/identity/claims/multifactorauthenticationinstant';
export const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
export const M365 = 'urn:federation:MicrosoftOnline';
/** The farm's sealing secret in these tests (mfa.secrets), so a test can reason about the stored form. */
export const MFA_SECRET = 'fedgate-e2e-mfa-secret-0123456789abcdefghijkl';

/** A TOTP code for `at` from oathtool (RFC 6238, SHA-1, 6 digits, 30 s): never fedgate's own TOTP code. */
export function oathtool(base32: string, at: Date): string {
  const now = at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return execFileSync('oathtool', ['--totp', '-b', `--now=${now}`, base32], {
    encoding: 'utf8',
  }).trim();
}

/** The named users as the app's directory finds them; a missing one fails the setup (never a skip). */
export async function findUsers<N extends string>(
  t: TestApp,
  ...names: N[]
): Promise<Record<N, DirectoryUser>> {
  const found = {} as Record<N, DirectoryUser>;
  for (const name of names) {
    const user = await t.services.directory.findUser(name);
    assert.ok(user, `directory user ${name}`);
    found[name] = user;
  }
  return found;
}

/**
 * The MFA decision for a password sign-in of `user` (at a fixed instant, from 203.0.113.9 to /adfs/ls/ unless
 * `request` says otherwise), made by `engine`, the real claims engine of a built app.
 */
export function decidePasswordSignIn(
  engine: ClaimsEngine,
  sets: MfaRuleSets,
  user: DirectoryUser,
  request: Partial<RequestContext> & { insideCorporateNetwork: boolean },
  requested?: readonly MfaReason[],
): Promise<MfaDecision> {
  return decideMfa({
    engine,
    sets,
    auth: { user, method: AuthMethods.password, instant: new Date('2026-01-02T03:04:05Z') },
    request: { clientIp: '203.0.113.9', endpointPath: '/adfs/ls/', ...request },
    requested,
  });
}

/**
 * Posts the MFA page's form (/adfs/ls/mfa) over HTTP with the AuthState and CSRF token of the page the server last
 * showed, the session cookies of `jar`, and `fields` (Method, Code, …); the jar takes the answer's cookies.
 */
export async function postMfaForm(
  t: TestApp,
  jar: Jar,
  page: string,
  fields: Record<string, string>,
): Promise<request.Response> {
  const res = await request(t.app)
    .post('/adfs/ls/mfa')
    .set('Cookie', jar.header())
    .type('form')
    .send({ AuthState: hidden(page, 'AuthState'), csrf: hidden(page, 'csrf'), ...fields });
  jar.take(res);
  return res;
}

export interface AdUser {
  sAMAccountName: string;
  upn: string;
  dn: string;
  password: string;
}

/**
 * A test account of this file in the Samba AD DC: created as Administrator when missing, otherwise its password
 * reset, lockout cleared and MFA attribute emptied, so every run starts with a user who has no factor.
 */
export function ensureAdUser(env: SambaEnv, sAMAccountName: string): AdUser {
  if (!/^[a-z0-9]{1,20}$/.test(sAMAccountName)) throw new Error('unexpected account name');
  const dn = `CN=${sAMAccountName},CN=Users,${env.baseDn}`;
  const upn = `${sAMAccountName}@${env.upnSuffix}`;
  const password = `E2e-${sAMAccountName}-Passw0rd!`;
  // AD takes a password set over LDAPS as unicodePwd: the quoted string in UTF-16LE ([MS-ADTS] §3.1.1.3.1.5).
  const unicodePwd = Buffer.from(`"${password}"`, 'utf16le').toString('base64');
  try {
    adminModify(
      env,
      [
        `dn: ${dn}`,
        'changetype: add',
        'objectClass: user',
        `sAMAccountName: ${sAMAccountName}`,
        `userPrincipalName: ${upn}`,
        `displayName: MFA e2e ${sAMAccountName}`,
        `unicodePwd:: ${unicodePwd}`,
        'userAccountControl: 512',
        '',
      ].join('\n'),
    );
  } catch {
    // Already there from an earlier run.
    adminModify(
      env,
      [
        `dn: ${dn}`,
        'changetype: modify',
        'replace: unicodePwd',
        `unicodePwd:: ${unicodePwd}`,
        '-',
        'replace: lockoutTime',
        'lockoutTime: 0',
        '-',
        '',
      ].join('\n'),
    );
  }
  setMfaAttribute(env, dn, undefined);
  return { sAMAccountName, upn, dn, password };
}

/** Sets or clears the MFA attribute as Administrator, as an admin with ADSI Edit (or an attacker with write) would. */
export function setMfaAttribute(env: SambaEnv, dn: string, value: string | undefined): void {
  adminModify(
    env,
    value === undefined
      ? `dn: ${dn}\nchangetype: modify\nreplace: ${MFA_ATTRIBUTE}\n-\n`
      : `dn: ${dn}\nchangetype: modify\nreplace: ${MFA_ATTRIBUTE}\n${MFA_ATTRIBUTE}:: ${Buffer.from(value).toString('base64')}\n-\n`,
  );
}

/** The MFA attribute as the DC holds it, read with ldapsearch as Administrator; undefined when not set. */
export function readMfaAttribute(env: SambaEnv, sAMAccountName: string): string | undefined {
  return ldifTextValue(ldapsearchAsAdmin(env, sAMAccountName, MFA_ATTRIBUTE), MFA_ATTRIBUTE);
}

/**
 * The plaintext of a sealed enrolment record, opened with AES-256-GCM written here from the documented construction
 * (HKDF-SHA256 of the farm secret per purpose, AAD = the account's objectGUID as ldapsearch reads it), never with
 * fedgate's sealer. Throws when the seal does not open with this secret and GUID.
 */
export function openSealedEnrolments(secret: string, objectGuid: Buffer, sealed: string): string {
  const [, ivB = '', ctB = ''] = sealed.split('.');
  const key = Buffer.from(
    hkdfSync('sha256', secret, 'fedgate-sealer-v1', 'fedgate mfa-enrolments', 32),
  );
  const ct = Buffer.from(ctB, 'base64url');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(ivB, 'base64url'));
  d.setAAD(Buffer.from(`mfa-enrolments:v1:${objectGuid.toString('hex')}`));
  d.setAuthTag(ct.subarray(ct.length - 16));
  return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
}

/**
 * Opens a sealed enrolment record read from the DC with AES-256-GCM written here from the documented construction
 * (HKDF-SHA256 of the farm secret per purpose, AAD = the account's objectGUID as ldapsearch reads it), not with
 * fedgate's sealer: what the MFA page stored, as an auditor holding the key would see it.
 */
export function openRecord(env: SambaEnv, sAMAccountName: string, sealed: string): unknown {
  const guid = readObjectGuidWithCli(env, sAMAccountName);
  return JSON.parse(openSealedEnrolments(MFA_SECRET, guid, sealed)) as unknown;
}

export interface MfaSite {
  t: TestApp;
  env: SambaEnv;
  host: string;
  base: string;
  browser: Browser;
  close(): Promise<void>;
}

/**
 * fedgate (createApp over buildServices, so the test reads its audit stream) behind a real HTTPS listener at
 * `host`, its directory the Samba DC with enrolments in MFA_ATTRIBUTE, and Chromium resolving `host` (and `extra`
 * hosts) to loopback and trusting exactly this site's key. The client address fedgate sees is 127.0.0.1.
 */
export async function startMfaSite(
  input: ConfigInput,
  opts: { host?: string; extraHosts?: string[]; clock?: Clock } = {},
): Promise<MfaSite> {
  const env = sambaEnv();
  const host = opts.host ?? 'login.fedgate.test';
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-mfa-'));
  const tls = siteCertificate(dir, [host, ...(opts.extraHosts ?? [])]);
  const port = await freePort();
  const base = `https://${host}:${port}`;
  const inMfa = input.mfa ?? {};
  const t = await makeTestApp(
    {
      hostname: host,
      publicUrl: base,
      directory: sambaLdapConfig(env),
      ...input,
      microsoft365: { federatedDomains: [env.upnSuffix], ...(input.microsoft365 ?? {}) },
      mfa: {
        secrets: [MFA_SECRET],
        ...inMfa,
        enrolment: { attribute: MFA_ATTRIBUTE, ...(inMfa.enrolment ?? {}) },
      },
    },
    opts.clock === undefined ? {} : { clock: opts.clock },
  );
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, t.app);
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  const browser = await launchChromium([
    mapHostsToLoopback([host, ...(opts.extraHosts ?? [])]),
    tls.spkiFlag,
  ]);
  return {
    t,
    env,
    host,
    base,
    browser,
    close: async () => {
      await browser.close();
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      await t.close();
    },
  };
}

/** Entra's login.srf, played by the test: records what the browser posts there and answers a marker page. */
export async function catchEntra(page: Page): Promise<() => URLSearchParams | undefined> {
  let posted: URLSearchParams | undefined;
  await page.route('https://login.microsoftonline.com/**', async (route) => {
    posted = new URLSearchParams(route.request().postData() ?? '');
    await route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<title>Entra</title><p id="entra">received</p>',
    });
  });
  return () => posted;
}

/** A page in a new browser context of `site` (no cookies yet), its posts to Entra caught (catchEntra). */
export async function newEntraPage(site: {
  browser: Browser;
}): Promise<{ page: Page; posted: () => URLSearchParams | undefined }> {
  const page = await (await site.browser.newContext()).newPage();
  return { page, posted: await catchEntra(page) };
}

/** The WS-Fed sign-in URL for Microsoft 365 (login_hint as `username`), optionally asking for MFA with wauth. */
export function entraSignInUrl(base: string, upn: string, wauth?: string): string {
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wctx: 'LoginOptions=3' });
  q.set('username', upn);
  if (wauth !== undefined) q.set('wauth', wauth);
  return `${base}/adfs/ls/?${q.toString()}`;
}

/**
 * A relying party's verdict on a posted WS-Fed response: the assertion verified by xml-crypto and by xmlsec1 with
 * the pinned certificate only, claims read from the signed bytes.
 */
export function verifyPosted(posted: URLSearchParams | undefined, certPem: string): Saml11Claims {
  if (posted === undefined) throw new Error('nothing was posted to Entra');
  if (posted.get('wa') !== 'wsignin1.0') throw new Error('not a wsignin1.0 response');
  const token = extractAssertionFromRstr(posted.get('wresult') ?? '');
  const claims = verifySaml11WithXmlCrypto(token, certPem);
  const r = verifyWithXmlsec1(token, certPem, SAML11_ID_ATTR);
  if (!r.ok) throw new Error(`xmlsec1: ${r.output}`);
  return claims;
}

/** Whether a verified token says a second factor was used (authnmethodsreferences multipleauthn). */
export function saysMfa(c: Saml11Claims): boolean {
  return c.attributes[AMR]?.includes(MULTIPLE_AUTHN) ?? false;
}

/**
 * The password page of the sign-in: fills it and submits. With Entra's `username=` hint the page already names the
 * user ("Signing in as", issue 17) and has no user-name field; it must be the user this test signs in.
 */
export async function submitPassword(page: Page, user: AdUser): Promise<void> {
  if ((await page.locator('#userNameInput').count()) === 0) {
    const named = await page.inputValue('input[type="hidden"][name="UserName"]');
    if (named.toLowerCase() !== user.upn.toLowerCase())
      throw new Error(`the page signs in ${named}, not ${user.upn}`);
  } else if ((await page.inputValue('#userNameInput')) === '')
    await page.fill('#userNameInput', user.upn);
  await page.fill('#passwordInput', user.password);
  await page.click('#submitButton');
}

/**
 * Gives a user of a test app's directory one authenticator-app factor, written through the app's own enrolment
 * store as an enrolment on the MFA page would (set-up for tests of what comes after; the enrolment itself is tested
 * in tests/integration/mfa-signin.test.ts).
 */
export async function enrolAppFactor(
  t: { services: Services },
  user: string,
  id: string,
  base32: string,
): Promise<void> {
  const store = t.services.mfa.enrolments;
  if (store === undefined) throw new Error('the test app keeps no enrolments (mfa.methods)');
  const found = await t.services.directory.findUser(user);
  if (found === undefined) throw new Error(`no user ${user} in the test directory`);
  await store.write(found, {
    v: 1,
    factors: [
      { kind: 'totp', id, name: 'Phone', createdAt: '2026-01-01T00:00:00.000Z', secret: base32 },
    ],
  });
}
