/**
 * Issue 16 end to end in headless Chromium: WebAuthn in the sign-in pipeline. Chromium's virtual authenticator
 * (CDP WebAuthn domain, CTAP2) answers views/theme/webauthn.js on fedgate's own MFA page: a Samba AD user without
 * any factor, signing in from a corporate address (mfa.enrolment.allow intranet), registers a security key as the
 * first factor, which is that sign-in's second factor (the token says multipleauthn); after the SSO session is
 * gone, a later sign-in is completed with the same key. The factor lives sealed in msDS-cloudExtensionAttribute10
 * (read with ldapsearch); its credential id is the one the authenticator holds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator } from '../helpers/webauthn.ts';
import {
  catchEntra,
  ensureAdUser,
  entraSignInUrl,
  MULTIPLE_AUTHN,
  openRecord,
  readMfaAttribute,
  saysMfa,
  startMfaSite,
  submitPassword,
  verifyPosted,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';

describe('MFA in Chromium: a security key enrolled on the MFA page, then used to sign in', () => {
  let site: MfaSite;
  let user: AdUser;

  before(async () => {
    site = await startMfaSite({
      corporateNetworks: ['127.0.0.1/32'],
      mfa: { methods: ['webauthn'], enrolment: { allow: ['intranet'] } },
    });
    user = ensureAdUser(site.env, 'mfae2ekey');
  });
  after(async () => {
    await site.close();
  });

  test('first-factor enrolment of a security key from the intranet, then a later sign-in with it', async () => {
    const context = await site.browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const authenticatorId = await addVirtualAuthenticator(cdp, { transport: 'usb' });
    const posted = await catchEntra(page);
    const cert = site.t.services.signing.certificatePem;

    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(page, user);
    await page.waitForSelector('#webauthnForm[data-mode="create"]');
    assert.equal(await page.locator('#enrolTotpForm').count(), 0, 'only WebAuthn is enabled');
    await page.fill('#enrolKeyName', 'Blue key');
    await page.click('#webauthnButton');
    await page.waitForSelector('#entra');
    assert.ok(saysMfa(verifyPosted(posted(), cert)), 'the enrolling sign-in used the new key');
    const added = site.t.logs.events('mfa_enrolment').at(-1);
    assert.equal(added?.method, 'webauthn');
    assert.equal(added.route, 'intranet');
    const [held] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    assert.ok(held, 'the authenticator made a credential');
    const sealed = readMfaAttribute(site.env, user.sAMAccountName);
    assert.ok(sealed !== undefined, 'the factor is stored in the directory');
    // Opened independently (the stored form's short keys, enrolments.ts): one WebAuthn factor ('w'), named as
    // typed, for the credential the authenticator holds.
    const record = openRecord(site.env, user.sAMAccountName, sealed) as {
      f: { k: string; i: string; n: string; ci: string; ct: number }[];
    };
    assert.equal(record.f.length, 1);
    const factor = record.f[0];
    assert.ok(factor?.k === 'w');
    assert.equal(factor.n, 'Blue key');
    assert.equal(factor.ci, Buffer.from(held.credentialId, 'base64').toString('base64url'));

    // The SSO session ends (cookies gone); the key stays in the authenticator.
    await context.clearCookies();
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(page, user);
    await page.waitForSelector('#webauthnForm[data-mode="get"]');
    await page.click('#webauthnButton');
    await page.waitForFunction(() => document.querySelector('#entra') !== null);
    assert.ok(saysMfa(verifyPosted(posted(), cert)));
    const used = site.t.logs.events('mfa').at(-1);
    assert.equal(used?.outcome, 'success');
    assert.equal(used.method, 'webauthn');
    assert.equal(used.factorId, factor.i);
    const after = openRecord(
      site.env,
      user.sAMAccountName,
      readMfaAttribute(site.env, user.sAMAccountName) ?? '',
    ) as typeof record;
    assert.ok((after.f[0]?.ct ?? 0) > factor.ct, 'the new counter is saved');
    assert.deepEqual(errors, [], 'no script error or CSP violation on the MFA page');
    await context.close();
  });
});
