/**
 * Issue 16 "Users manage their own factors" end to end in headless Chromium: a Samba AD user with an authenticator
 * app opens the security-info page /adfs/portal/, signs in there (password, then a code from Debian's oathtool),
 * and adds a security key with Chromium's virtual authenticator (CDP WebAuthn domain, CTAP2) through
 * views/theme/webauthn.js under the page's `script-src 'self'`. The record is read back from the DC with ldapsearch
 * and opened independently: the new factor is the credential the authenticator holds. The same key offered again
 * is refused by the browser itself (excludeCredentials), so nothing more is stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator } from '../helpers/webauthn.ts';
import {
  ensureAdUser,
  oathtool,
  openRecord,
  readMfaAttribute,
  startMfaSite,
  submitPassword,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';

const APP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF';

describe('security info page in Chromium: adding a security key', () => {
  let site: MfaSite;
  let user: AdUser;

  before(async () => {
    site = await startMfaSite({ mfa: { methods: ['totp', 'webauthn'] } });
    user = ensureAdUser(site.env, 'mfae2eportal');
    // Setup only: the user already has an authenticator app (what the helpdesk or an earlier sign-in enrolled).
    const account = await site.t.services.directory.findUser(user.sAMAccountName);
    assert.ok(account, 'the AD user');
    await site.t.services.mfa.enrolments?.write(account, {
      v: 1,
      factors: [
        {
          kind: 'totp',
          id: 'portalE2eAppFactor0001',
          name: 'Phone',
          createdAt: new Date().toISOString(),
          secret: APP_SECRET,
        },
      ],
    });
  });
  after(async () => {
    await site.close();
  });

  test('sign in at /adfs/portal/, add a security key, and the same key again is refused', async () => {
    const context = await site.browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      // The browser's own favicon probe is not the page's.
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico'))
        errors.push(`${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const portalCsp: string[] = [];
    page.on('response', (r) => {
      if (
        new URL(r.url()).pathname === '/adfs/portal/' &&
        r.request().resourceType() === 'document'
      )
        portalCsp.push(r.headers()['content-security-policy'] ?? '');
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const authenticatorId = await addVirtualAuthenticator(cdp, { transport: 'usb' });

    await page.goto(`${site.base}/adfs/portal/`);
    assert.match((await page.textContent('main')) ?? '', /Security info/);
    await submitPassword(page, user);
    await page.waitForSelector('#totpForm');
    await page.fill('#totpCode', oathtool(APP_SECRET, new Date()));
    await page.click('#totpSubmit');
    // The pipeline posts back to the portal, which shows the list.
    await page.waitForSelector('#factorList');
    assert.equal(new URL(page.url()).pathname, '/adfs/portal/');
    assert.deepEqual(await page.locator('.factor-name').allTextContents(), ['Phone']);
    assert.match(
      portalCsp.at(-1) ?? '',
      /script-src 'self'/,
      'the page may load the WebAuthn script',
    );

    await page.click('#addWebauthnStart button');
    await page.waitForSelector('#webauthnForm[data-mode="create"]');
    await page.fill('#addKeyName', 'Desk key');
    await page.click('#webauthnButton');
    await page.waitForSelector('#noticeText');
    assert.match((await page.textContent('#noticeText')) ?? '', /Added “Desk key”/);
    assert.deepEqual(await page.locator('.factor-name').allTextContents(), ['Phone', 'Desk key']);

    const [held] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    assert.ok(held, 'the authenticator made a credential');
    const record = openRecord(
      site.env,
      user.sAMAccountName,
      readMfaAttribute(site.env, user.sAMAccountName) ?? '',
    ) as { f: { k: string; n: string; ci?: string }[] };
    assert.deepEqual(
      record.f.map((f) => [f.k, f.n]),
      [
        ['t', 'Phone'],
        ['w', 'Desk key'],
      ],
    );
    assert.equal(record.f[1]?.ci, Buffer.from(held.credentialId, 'base64').toString('base64url'));
    const ev = site.t.logs.events('mfa_enrolment').at(-1);
    assert.deepEqual(
      [ev?.action, ev?.method, ev?.by, ev?.route],
      ['added', 'webauthn', 'self', 'mfa'],
    );

    // The same authenticator again: the options exclude its credential, so the browser refuses before posting.
    await page.click('#addWebauthnStart button');
    await page.waitForSelector('#webauthnForm[data-mode="create"]');
    await page.click('#webauthnButton');
    const box = page.locator('#webauthnError');
    await box.waitFor({ state: 'visible' });
    assert.match((await box.textContent()) ?? '', /already registered/);
    const again = openRecord(
      site.env,
      user.sAMAccountName,
      readMfaAttribute(site.env, user.sAMAccountName) ?? '',
    ) as { f: unknown[] };
    assert.equal(again.f.length, 2, 'nothing more stored');
    assert.deepEqual(errors, [], 'no script error or CSP violation on the portal');
    await context.close();
  });
});
