import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { freePort } from '../helpers/net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import { startServer, type Running } from '../../server/main.ts';
import { launchChromium } from '../helpers/browser.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';

// The sign-in page in real headless Chromium against a real HTTPS listener (self-signed certificate generated on
// first run, as with embedded defaults): the test link signs a demo user in; the Microsoft 365 flow auto-posts
// the token (with and without JavaScript); the page's CSP blocks what it should.

describe('sign-in in a real browser', () => {
  let running: Running;
  let browser: Browser;
  let base: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-'));
    const config = resolveConfig(
      {
        hostname: 'localhost',
        listen: { port: await freePort(), host: '127.0.0.1', tls: 'generate' },
        keys: { dir: join(dir, 'keys') },
        testRelyingParty: true,
        log: { level: 'silent' },
      },
      { env: {}, baseDir: dir, source: 'e2e', embeddedDefaults: false },
    );
    running = await startServer({ ...config });
    base = `https://localhost:${running.port}`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await running.stop();
  });

  test('the test sign-in link signs a demo user in and shows the verified token', async () => {
    // The token page is a relying party reply URL built from publicUrl (port 8443 by default); in this test the
    // listener runs on a random port, so the browser is pointed at it by rewriting the reply origin.
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    await page.route('https://localhost:8443/**', (route) =>
      route.continue({ url: route.request().url().replace('https://localhost:8443', base) }),
    );
    await page.goto(`${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest`);
    assert.equal(await page.title(), 'Sign in – fedgate');
    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', 'wrong password');
    await page.click('#submitButton');
    assert.match((await page.textContent('#errorText')) ?? '', /Incorrect user ID or password/);
    assert.equal(
      await page.inputValue('#userNameInput'),
      'alice@fedgate.test',
      'the user name is kept after a failure',
    );
    await page.fill('#passwordInput', 'Passw0rd!');
    await Promise.all([page.waitForURL('**/adfs/test/result'), page.click('#submitButton')]);
    assert.match((await page.textContent('#result')) ?? '', /Signed in as/);
    assert.match((await page.textContent('#signature')) ?? '', /valid/);
    assert.match(await page.content(), /alice@fedgate\.test/);
    await page.screenshot({ path: join(tmpdir(), 'fedgate-token-test.png') });
    await ctx.close();
  });

  test('Microsoft 365: the token is auto-posted to login.srf, with and without JavaScript', async () => {
    for (const javaScriptEnabled of [true, false]) {
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled });
      const page = await ctx.newPage();
      const metadata = await (
        await page.request.get(`${base}/FederationMetadata/2007-06/FederationMetadata.xml`)
      ).text();
      const cert = certFromMetadata(metadata)[0]!;
      let posted: URLSearchParams | undefined;
      await page.route('https://login.microsoftonline.com/**', async (route) => {
        posted = new URLSearchParams(route.request().postData() ?? '');
        await route.fulfill({
          status: 200,
          contentType: 'text/html',
          body: '<title>Entra</title><p id="entra">received</p>',
        });
      });
      const wctx = 'LoginOptions=3&estsredirect=2&estsrequest=abc';
      await page.goto(
        `${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=${encodeURIComponent(wctx)}&username=bob%40fedgate.test`,
      );
      assert.equal(await page.inputValue('#userNameInput'), 'bob@fedgate.test');
      await page.fill('#passwordInput', 'Passw0rd!');
      await page.click('#submitButton');
      if (!javaScriptEnabled) {
        await page.waitForSelector('noscript button, button[type=submit]');
        await page.click('button[type=submit]');
      }
      await page.waitForSelector('#entra');
      assert.ok(posted, 'the browser posted to login.srf');
      assert.equal(posted.get('wa'), 'wsignin1.0');
      assert.equal(posted.get('wctx'), wctx);
      const claims = verifySaml11WithXmlCrypto(
        extractAssertionFromRstr(posted.get('wresult') ?? ''),
        cert,
      );
      assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
        'bob@fedgate.test',
      ]);
      await ctx.close();
    }
  });

  test('the sign-in page cannot be framed and runs no injected script', async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(
      `${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest&username=${encodeURIComponent('"><img src=x onerror=alert(1)><script>alert(2)</script>')}`,
    );
    await page.waitForTimeout(200);
    assert.deepEqual(dialogs, []);
    assert.equal(await page.locator('img').count(), 0);
    // A page on another origin tries to frame the sign-in page: the frame must stay empty (X-Frame-Options/CSP).
    await page.route('https://attacker.example/', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: `<iframe id="f" src="${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest"></iframe>`,
      }),
    );
    await page.goto('https://attacker.example/');
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    const framedInputs =
      frame === undefined
        ? 0
        : await frame
            .locator('#passwordInput')
            .count()
            .catch(() => 0);
    assert.equal(framedInputs, 0, 'the sign-in form does not render inside a frame');
    await ctx.close();
  });
});
