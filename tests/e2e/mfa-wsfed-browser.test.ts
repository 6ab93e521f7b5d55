/**
 * Issue 16 end to end in headless Chromium, WS-Fed for Microsoft 365: the Entra-shaped sign-in (realm
 * urn:federation:MicrosoftOnline, the shipped Microsoft 365 rules) asking wauth=…multipleauthn gets a password page,
 * then the second-factor page; the token the browser posts to login.srf is verified by xml-crypto and xmlsec1 and
 * carries authnmethodsreferences multipleauthn and multifactorauthenticationinstant. Without wauth and without a
 * policy the same sign-in carries neither. Step-up: a password-only SSO session asked for MFA is asked for the
 * second factor only, and the stepped-up session answers later MFA requests without a prompt.
 *
 * The user is a Samba AD account (tests/helpers/mfa.ts); the TOTP factor is enrolled through the MFA page from a
 * corporate address (mfa.enrolment.allow intranet) and stored sealed in msDS-cloudExtensionAttribute10, which is
 * read back with ldapsearch; codes come from Debian's oathtool.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  AMR,
  ensureAdUser,
  newEntraPage,
  entraSignInUrl,
  MFA_INSTANT,
  MULTIPLE_AUTHN,
  oathtool,
  readMfaAttribute,
  saysMfa,
  startMfaSite,
  submitPassword,
  verifyPosted,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';

describe('MFA in Chromium: WS-Fed to Microsoft 365 with wauth=multipleauthn, and step-up', () => {
  // Frozen near the real time (the browser's cookies use real time); moved on between codes, never slept.
  const clock = new FixedClock(Math.floor(Date.now() / 30_000) * 30_000);
  let site: MfaSite;
  let user: AdUser;
  let secret = '';
  let cert = '';

  before(async () => {
    site = await startMfaSite(
      {
        corporateNetworks: ['127.0.0.1/32'],
        mfa: { methods: ['totp'], enrolment: { allow: ['intranet'] } },
      },
      { clock },
    );
    user = ensureAdUser(site.env, 'mfae2ewsfed');
    cert = site.t.services.signing.certificatePem;
  });
  after(async () => {
    await site.close();
  });

  const fresh = () => newEntraPage(site);

  test('without wauth and without a policy: no MFA page, and the token claims no second factor', async () => {
    const { page, posted } = await fresh();
    await page.goto(entraSignInUrl(site.base, user.upn));
    await submitPassword(page, user);
    await page.waitForSelector('#entra');
    const claims = verifyPosted(posted(), cert);
    assert.equal(saysMfa(claims), false);
    assert.equal(claims.attributes[MFA_INSTANT], undefined);
    assert.equal(site.t.logs.events('mfa_required').length, 0);
    await page.context().close();
  });

  test('wauth=multipleauthn: password, first TOTP enrolment from the intranet, then a later sign-in with TOTP', async () => {
    const { page, posted } = await fresh();
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(page, user);
    await page.waitForSelector('#enrolTotpForm');
    assert.equal(site.t.logs.events('mfa_required').at(-1)?.outcome, 'challenge');
    secret = ((await page.textContent('#totpSecret')) ?? '').replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await page.fill('#enrolTotpName', 'Phone');
    await page.fill('#enrolTotpCode', oathtool(secret, clock.now()));
    await page.click('#enrolTotpSubmit');
    await page.waitForSelector('#entra');
    const enrolled = verifyPosted(posted(), cert);
    assert.ok(saysMfa(enrolled), 'the enrolling sign-in used the new factor');
    // The factor is in the directory, sealed: the DC holds a value, and not the secret in clear.
    const stored = readMfaAttribute(site.env, user.sAMAccountName);
    assert.ok(stored !== undefined && stored.length > 40);
    assert.ok(!stored.includes(secret));
    assert.equal(site.t.logs.events('mfa_enrolment').at(-1)?.route, 'intranet');
    await page.context().close();

    clock.advance(60_000);
    const second = await fresh();
    await second.page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(second.page, user);
    await second.page.waitForSelector('#totpForm');
    // A wrong code first: refused on the page, the user stays on it.
    await second.page.fill(
      '#totpCode',
      '000000' === oathtool(secret, clock.now()) ? '111111' : '000000',
    );
    await second.page.click('#totpSubmit');
    assert.match((await second.page.textContent('#errorText')) ?? '', /did not work/);
    assert.equal(second.posted(), undefined, 'nothing reached Entra');
    await second.page.fill('#totpCode', oathtool(secret, clock.now()));
    await second.page.click('#totpSubmit');
    await second.page.waitForSelector('#entra');
    const claims = verifyPosted(second.posted(), cert);
    assert.ok(claims.attributes[AMR]?.includes(MULTIPLE_AUTHN));
    const instant = claims.attributes[MFA_INSTANT] ?? [];
    assert.equal(instant.length, 1);
    assert.equal(new Date(instant[0] ?? '').getTime(), clock.now().getTime());
    assert.equal(site.t.logs.events('mfa').at(-1)?.outcome, 'success');
    await second.page.context().close();
  });

  test('step-up: a password-only session asked for MFA asks the second factor only; the session then satisfies MFA', async () => {
    assert.notEqual(secret, '', 'the enrolment test ran first');
    clock.advance(60_000);
    const { page, posted } = await fresh();
    await page.goto(entraSignInUrl(site.base, user.upn));
    await submitPassword(page, user);
    await page.waitForSelector('#entra');
    assert.equal(saysMfa(verifyPosted(posted(), cert)), false, 'password only');

    // Same browser, same SSO session: Entra now asks for MFA.
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await page.waitForSelector('#totpForm');
    assert.equal(await page.locator('#passwordInput').count(), 0, 'no password asked again');
    await page.fill('#totpCode', oathtool(secret, clock.now()));
    await page.click('#totpSubmit');
    await page.waitForFunction(() => document.querySelector('#entra') !== null);
    const stepped = verifyPosted(posted(), cert);
    assert.ok(saysMfa(stepped));

    // A later MFA request in the same browser: the stepped-up session answers without any page.
    const before = site.t.logs.events('mfa_required').length;
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await page.waitForSelector('#entra');
    assert.ok(saysMfa(verifyPosted(posted(), cert)));
    assert.equal(site.t.logs.events('mfa_required').length, before, 'no second MFA prompt');
    await page.context().close();
  });
});
