/**
 * Issue 16 end to end in headless Chromium: RADIUS MFA in the sign-in pipeline against a real FreeRADIUS
 * (tests/setup/freeradius.sh on a loopback port, Message-Authenticator required), users named by sAMAccountName
 * (mfa.radius.userName) for Samba AD accounts of the same names. Accept completes the sign-in (the token says
 * multipleauthn); Reject (a wrong code) is refused on the page, counted toward the MFA lockout and audited; the
 * Access-Challenge round trip shows the server's Reply-Message as text (it holds markup, which must not become
 * elements or run) and the answer, sent with the server's State, completes the sign-in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startFreeRadius, type TestFreeRadius } from '../helpers/freeradius.ts';
import {
  ensureAdUser,
  newEntraPage,
  entraSignInUrl,
  MULTIPLE_AUTHN,
  saysMfa,
  startMfaSite,
  submitPassword,
  verifyPosted,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';
import { waitUntil } from '../helpers/net.ts';
import { readObjectGuidWithCli, sambaEnv } from '../helpers/samba.ts';

const REPLY_MESSAGE =
  'Enter the code we sent to <b id=injected>your phone</b> & <script>alert(1)</script>';

describe('MFA in Chromium: RADIUS against FreeRADIUS', () => {
  let radius: TestFreeRadius;
  let site: MfaSite;
  let accepted: AdUser;
  let challenged: AdUser;

  before(async () => {
    const env = sambaEnv();
    accepted = ensureAdUser(env, 'mfae2eradius');
    challenged = ensureAdUser(env, 'mfae2echal');
    radius = await startFreeRadius();
    site = await startMfaSite({
      mfa: {
        methods: ['radius'],
        radius: {
          servers: [{ host: '127.0.0.1', port: radius.port, secret: radius.secret }],
          userName: 'sAMAccountName',
          attemptTimeoutMs: 2000,
          retries: 0,
          totalTimeoutMs: 4000,
        },
      },
    });
  });
  after(async () => {
    await site.close();
    await radius.stop();
  });

  async function toRadiusPage(user: AdUser): Promise<{
    page: Page;
    posted: () => URLSearchParams | undefined;
    dialogs: string[];
  }> {
    const { page, posted } = await newEntraPage(site);
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(entraSignInUrl(site.base, user.upn, MULTIPLE_AUTHN));
    await submitPassword(page, user);
    await page.waitForSelector('#radiusForm');
    return { page, posted, dialogs };
  }

  test('Reject on a wrong code: refused on the page, counted and audited; then Accept on the right one', async () => {
    const { page, posted } = await toRadiusPage(accepted);
    const account = `guid:${readObjectGuidWithCli(site.env, accepted.sAMAccountName).toString('base64')}`;
    await page.fill('#radiusCode', '000000');
    await page.click('#radiusSubmit');
    await page.waitForSelector('#errorText');
    assert.match((await page.textContent('#errorText')) ?? '', /did not work/);
    assert.equal(posted(), undefined);
    const failed = site.t.logs.events('mfa').at(-1);
    assert.equal(failed?.outcome, 'failure');
    assert.equal(failed.method, 'radius');
    assert.equal(failed.reason, 'reject');
    assert.equal(failed.account, account);
    assert.equal(failed.failures, 1);
    assert.equal(await site.t.services.mfa.lockout.failures(account), 1, 'counted');
    // FreeRADIUS's own log (written by its thread; polled, bounded) says it refused this user.
    await waitUntil('FreeRADIUS logged the Reject', () =>
      /Login incorrect.*mfae2eradius/.test(radius.log()),
    );

    await page.fill('#radiusCode', '314159');
    await page.click('#radiusSubmit');
    await page.waitForSelector('#entra');
    assert.ok(saysMfa(verifyPosted(posted(), site.t.services.signing.certificatePem)));
    assert.equal(site.t.logs.events('mfa').at(-1)?.outcome, 'success');
    assert.equal(await site.t.services.mfa.lockout.failures(account), 0, 'reset on success');
    await waitUntil('FreeRADIUS logged the Accept', () =>
      /Login OK.*mfae2eradius/.test(radius.log()),
    );
    await page.context().close();
  });

  test('Access-Challenge: the Reply-Message is shown as text; the answer completes the sign-in', async () => {
    const { page, posted, dialogs } = await toRadiusPage(challenged);
    await page.fill('#radiusCode', 'push');
    await page.click('#radiusSubmit');
    await page.waitForFunction(() =>
      (document.querySelector('label[for="radiusCode"]')?.textContent ?? '').includes('&'),
    );
    assert.equal(await page.textContent('label[for="radiusCode"]'), REPLY_MESSAGE);
    assert.equal(await page.locator('#injected').count(), 0, 'no element from the message');
    assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script');
    assert.deepEqual(dialogs, []);
    assert.equal(site.t.logs.events('mfa').at(-1)?.reason, 'challenge');
    assert.equal(posted(), undefined);
    await page.fill('#radiusCode', '424242');
    await page.click('#radiusSubmit');
    await page.waitForSelector('#entra');
    assert.ok(saysMfa(verifyPosted(posted(), site.t.services.signing.certificatePem)));
    assert.equal(site.t.logs.events('mfa').at(-1)?.outcome, 'success');
    assert.deepEqual(dialogs, []);
    await page.context().close();
  });
});
