/**
 * Issue 16 negatives end to end in headless Chromium, against Samba AD (enrolments sealed in
 * msDS-cloudExtensionAttribute10):
 * - enrolment refused by policy: mfa.enrolment.allow [] with the client inside corporateNetworks (the twin of the
 *   intranet enrolment in mfa-wsfed-browser / mfa-webauthn-browser, which differs only in allow) — the MFA page
 *   offers no enrolment, says to contact the helpdesk, audits mfa_enrolment_refused reason policy, and no token
 *   reaches Entra;
 * - a tampered stored record, changed as Administrator in the DC (one character of the sealed value's authentication tag changed; another
 *   account's valid sealed value copied over) — the page says the methods cannot be read, the `mfa` audit says
 *   unreadable, no code is asked and no token is issued. Before the change the same account gets its TOTP form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  ensureAdUser,
  newEntraPage,
  entraSignInUrl,
  MULTIPLE_AUTHN,
  readMfaAttribute,
  setMfaAttribute,
  startMfaSite,
  submitPassword,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';
import { sambaEnv } from '../helpers/samba.ts';

describe('MFA in Chromium: enrolment refused by policy, tampered enrolment records', () => {
  let site: MfaSite;
  let refused: AdUser;
  let flipped: AdUser;
  let copied: AdUser;
  /** flipped's valid sealed value, read before any test changes it. */
  let flippedSealed = '';

  before(async () => {
    const env = sambaEnv();
    refused = ensureAdUser(env, 'mfae2eneg1');
    flipped = ensureAdUser(env, 'mfae2eneg2');
    copied = ensureAdUser(env, 'mfae2eneg3');
    site = await startMfaSite({
      corporateNetworks: ['127.0.0.1/32'],
      mfa: { methods: ['totp', 'webauthn'], enrolment: { allow: [] } },
    });
    // Both tamper targets hold a valid TOTP factor to begin with (written through the service account).
    for (const u of [flipped, copied]) {
      const du = await site.t.services.directory.findUser(u.sAMAccountName);
      assert.ok(du);
      await site.t.services.mfa.enrolments?.write(du, {
        v: 1,
        factors: [
          {
            kind: 'totp',
            id: `f-${u.sAMAccountName}`,
            name: 'Phone',
            createdAt: new Date().toISOString(),
            secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          },
        ],
      });
    }
    flippedSealed = readMfaAttribute(env, flipped.sAMAccountName) ?? '';
  });
  after(async () => {
    await site.close();
  });

  async function toMfaPage(
    user: AdUser,
  ): Promise<{ page: Page; posted: () => URLSearchParams | undefined }> {
    const { page, posted } = await newEntraPage(site);
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(page, user);
    await page.waitForURL('**/adfs/ls/**');
    await page.waitForSelector('h1');
    return { page, posted };
  }

  test('allow [] from the intranet: no enrolment offered, contact helpdesk, audited as policy, no token', async () => {
    const { page, posted } = await toMfaPage(refused);
    await page.waitForSelector('#blockedText');
    assert.match((await page.textContent('#blockedText')) ?? '', /Contact your helpdesk/);
    for (const form of ['#enrolTotpForm', '#webauthnForm', '#enrolCodeForm', '#totpForm'])
      assert.equal(await page.locator(form).count(), 0, `${form} is not offered`);
    const audit = site.t.logs.events('mfa_enrolment_refused').at(-1);
    assert.equal(audit?.reason, 'policy');
    assert.equal(posted(), undefined, 'nothing reached Entra');
    assert.equal(readMfaAttribute(site.env, refused.sAMAccountName), undefined, 'nothing stored');
    assert.equal(site.t.logs.events('mfa_enrolment').length, 0);
    await page.context().close();
  });

  test('control: an untouched record opens, and the TOTP form is shown', async () => {
    const { page } = await toMfaPage(flipped);
    await page.waitForSelector('#totpForm');
    await page.context().close();
  });

  for (const tamper of ['one tag character changed', "another account's sealed value"] as const) {
    test(`a tampered record (${tamper}): the unreadable page, audited, no code asked, no token`, async () => {
      const target = tamper === 'one tag character changed' ? flipped : copied;
      const original = readMfaAttribute(site.env, target.sAMAccountName);
      assert.ok(original !== undefined);
      let value: string;
      if (tamper === 'one tag character changed') {
        // A character of the AES-GCM authentication tag (the last 16 bytes of the last part), not the final
        // character, whose low bits are base64url padding.
        const at = original.length - 8;
        value = original.slice(0, at) + (original[at] === 'A' ? 'B' : 'A') + original.slice(at + 1);
      } else {
        value = flippedSealed;
        assert.notEqual(value, original);
      }
      setMfaAttribute(site.env, target.dn, value);
      const before = site.t.logs.events('mfa').length;
      const { page, posted } = await toMfaPage(target);
      await page.waitForSelector('#blockedText');
      assert.match((await page.textContent('#blockedText')) ?? '', /cannot be read/);
      for (const form of ['#totpForm', '#enrolTotpForm', '#webauthnForm', '#enrolCodeForm'])
        assert.equal(await page.locator(form).count(), 0, `${form} is not offered`);
      const events = site.t.logs.events('mfa').slice(before);
      assert.ok(events.length > 0);
      assert.ok(events.every((e) => e.outcome === 'unreadable'));
      assert.equal(posted(), undefined, 'nothing reached Entra');
      await page.context().close();
    });
  }
});
