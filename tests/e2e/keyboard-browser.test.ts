/**
 * Issue 17 "A keyboard-only test completes a sign-in, a wrong password, and a password update", in headless
 * Chromium against the Samba AD DC (WCAG 2.1.1 keyboard, 2.4.3 focus order, 2.4.7 focus visible, 3.3.1 error
 * identification, 4.1.3 status messages).
 *
 * Only the keyboard: Tab, Shift+Tab, Enter and Space, and typing into whatever has focus. No mouse, no page.fill or
 * page.click; the test reads where focus is after every key, so a control that cannot be reached, a wrong focus
 * order or a missing focus indicator fails it. Every focused control must show an outline of at least 2 px.
 *
 * The sign-ins are Microsoft 365's (WS-Fed to login.srf, which the test plays and where it catches what the browser
 * posts); the token is verified by xml-crypto and xmlsec1 with the pinned certificate (tests/helpers/mfa.ts), and
 * the changed password is proved on the DC by an LDAP bind with the OpenLDAP ldapsearch CLI. The account is this
 * file's own (created or reset as Administrator), so no other test's account is touched.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { adminModify } from '../helpers/account-protection.ts';
import {
  ensureAdUser,
  newEntraPage,
  verifyPosted,
  startMfaSite,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';
import { ldapsearchCli } from '../helpers/samba.ts';

const UPN_CLAIM = 'http://schemas.xmlsoap.org/claims/UPN';

/** What has focus: its id (or tag and class), and whether it shows a focus indicator of at least 2 px. */
interface Focused {
  id: string;
  tag: string;
  role: string | null;
  outline: number;
}

async function focused(page: Page): Promise<Focused> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (el === null) return { id: '', tag: '', role: null, outline: 0 };
    const s = getComputedStyle(el);
    return {
      id: el.id === '' ? `${el.tagName.toLowerCase()}.${el.className}` : el.id,
      tag: el.tagName.toLowerCase(),
      role: el.getAttribute('role'),
      outline: s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth),
    };
  });
}

/**
 * Where focus lands when a page opens: autofocus is applied when the browser next updates the rendering, which may
 * be after the load event (HTML §6.6.3 "flush autofocus candidates"), so this waits for it, bounded.
 */
async function landsOn(page: Page, id: string): Promise<Focused> {
  await page
    .waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 5000 })
    .catch(() => undefined);
  const f = await focused(page);
  assert.equal(f.id, id, `focus lands on #${id} when the page opens`);
  return f;
}

/** Presses `key` and checks that focus is then on `id`, with a visible indicator when it is a control. */
async function press(page: Page, key: string, id: string): Promise<void> {
  await page.keyboard.press(key);
  const f = await focused(page);
  assert.equal(f.id, id, `after ${key}, focus should be on #${id}`);
  if (['input', 'button', 'a', 'select'].includes(f.tag))
    assert.ok(f.outline >= 2, `#${id} shows a focus outline (${String(f.outline)} px)`);
}

function signInUrl(base: string): string {
  const q = new URLSearchParams({
    wa: 'wsignin1.0',
    wtrealm: 'urn:federation:MicrosoftOnline',
    wctx: 'LoginOptions=3&estsredirect=2',
  });
  return `${base}/adfs/ls/?${q.toString()}`;
}

/** Waits for the next document to load after a key submitted a form. */
async function submitWith(page: Page, key: 'Enter' | 'Space'): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press(key)]);
}

describe('keyboard only, in Chromium: sign-in, wrong password, password update', () => {
  let site: MfaSite;
  let user: AdUser;

  before(async () => {
    // "Keep me signed in" on, so its check box is in the tab order too.
    site = await startMfaSite({ branding: { signIn: { keepMeSignedIn: true } } });
    user = ensureAdUser(site.env, 'kbde2e');
  });
  after(async () => {
    await site.close();
  });

  test('a wrong password is announced and focused, then the right one signs in', async () => {
    const { page, posted } = await newEntraPage(site);
    await page.goto(signInUrl(site.base));
    // The page opens with the cursor in the user name field (autofocus), as on Entra's page.
    await landsOn(page, 'userNameInput');

    // Backwards from there is the skip link, shown when focused; Enter on it moves the start of the tab order to
    // the page's content, so Tab comes back to the user name.
    await press(page, 'Shift+Tab', 'a.skip-link');
    const box = await page.locator('.skip-link').boundingBox();
    assert.ok(box !== null && box.y >= 0 && box.height >= 24, 'the skip link is on screen');
    await page.keyboard.press('Enter');
    await press(page, 'Tab', 'userNameInput');

    await page.keyboard.type(user.upn);
    await press(page, 'Tab', 'passwordInput');
    await page.keyboard.type('not the password');
    // The check box: Space ticks it.
    await press(page, 'Tab', 'kmsiInput');
    await page.keyboard.press('Space');
    assert.equal(await page.isChecked('#kmsiInput'), true);
    await press(page, 'Tab', 'submitButton');
    await submitWith(page, 'Space');

    // The failure: an alert (read out by screen readers) that has focus, the user name kept.
    const f = await landsOn(page, 'errorText');
    assert.equal(f.role, 'alert');
    assert.match((await page.textContent('#errorText')) ?? '', /\S/);
    assert.equal(await page.inputValue('#userNameInput'), user.upn);
    assert.equal(posted(), undefined, 'nothing reached Entra');

    // From the message, Tab goes on through the form: user name, password; Enter in the field submits it.
    await press(page, 'Tab', 'userNameInput');
    await press(page, 'Tab', 'passwordInput');
    await page.keyboard.type(user.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#entra');
    const claims = verifyPosted(posted(), site.t.services.signing.certificatePem);
    assert.deepEqual(claims.attributes[UPN_CLAIM], [user.upn]);
    await page.context().close();
  });

  test('a password that must be changed: the policy refusal is announced, then the update signs in', async () => {
    // The account must change its password at next logon (pwdLastSet 0 → AD's 773), set as Administrator.
    adminModify(
      site.env,
      `dn: ${user.dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n-\n`,
    );
    const { page, posted } = await newEntraPage(site);
    await page.goto(signInUrl(site.base));
    await landsOn(page, 'userNameInput');
    await page.keyboard.type(user.upn);
    await press(page, 'Tab', 'passwordInput');
    await page.keyboard.type(user.password);
    await submitWith(page, 'Enter');

    // The update page: the user name is fixed, the cursor in the current password.
    await page.waitForSelector('#updatePasswordForm');
    await landsOn(page, 'oldPasswordInput');
    await page.keyboard.type(user.password);
    await press(page, 'Tab', 'newPasswordInput');
    await page.keyboard.type('short1');
    await press(page, 'Tab', 'confirmNewPasswordInput');
    await page.keyboard.type('short1');
    await press(page, 'Tab', 'submitButton');
    await submitWith(page, 'Enter');

    // AD refuses it (too short for the domain's policy); the page says why, as an alert that has focus.
    const f = await landsOn(page, 'errorText');
    assert.equal(f.role, 'alert');
    assert.match((await page.textContent('#errorText')) ?? '', /\S/);

    // A new password AD accepts (random per run: the domain keeps a password history).
    const fresh = `Kb-${randomBytes(6).toString('hex')}-Aa1!`;
    // The read-only user name is still in the tab order (it can be read and copied), then the current password.
    await press(page, 'Tab', 'userNameInput');
    await press(page, 'Tab', 'oldPasswordInput');
    await page.keyboard.type(user.password);
    await press(page, 'Tab', 'newPasswordInput');
    await page.keyboard.type(fresh);
    await press(page, 'Tab', 'confirmNewPasswordInput');
    await page.keyboard.type(fresh);
    await press(page, 'Tab', 'submitButton');
    await submitWith(page, 'Space');
    // Back on the sign-in page (as AD FS does): a status message says the password was updated, and the user signs
    // in with the new one (the user name is kept, so the cursor is in the password field).
    await page.waitForSelector('#noticeText');
    assert.equal(await page.getAttribute('#noticeText', 'role'), 'status');
    assert.equal(await page.inputValue('#userNameInput'), user.upn);
    await landsOn(page, 'passwordInput');
    await page.keyboard.type(fresh);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#entra');
    const claims = verifyPosted(posted(), site.t.services.signing.certificatePem);
    assert.deepEqual(claims.attributes[UPN_CLAIM], [user.upn]);
    // The DC holds the new password: the user binds with it (OpenLDAP's ldapsearch, not fedgate's LDAP client).
    const self = ldapsearchCli(site.env, {
      bindDn: user.dn,
      password: fresh,
      base: user.dn,
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['1.1'],
    });
    assert.match(self, /^dn: /m);
    await page.context().close();
  });
});
