import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { freePort } from '../helpers/net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Browser } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import { startServer, type Running } from '../../server/main.ts';
import { launchChromium } from '../helpers/browser.ts';
import { certFromMetadata } from '../helpers/verify.ts';
import {
  EMAIL,
  SP_ACS,
  SP_CERT,
  SP_ID,
  SP_KEY,
  SP_SLO,
  spMetadata,
  standardSp,
  writeTrusts,
} from '../fixtures/saml2/harness.ts';

// One session, one sign-out in real Chromium: a WS-Federation relying party (a tiny local HTTPS server that
// records what reaches it) and a SAML 2.0 service provider (node-saml, its endpoints served by request
// interception) share one fedgate session; the SP's LogoutRequest ends it, the signed-out page's <img> sends
// wsignoutcleanup1.0 to the WS-Fed party (allowed by that page's CSP), and the page then carries the
// LogoutResponse back to the SP, which node-saml verifies.

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

describe('single logout reaches the WS-Fed party in a real browser', () => {
  let running: Running;
  let browser: Browser;
  let base: string;
  let rp: Server;
  let rpReply: string;
  const rpHits: { method: string; url: string }[] = [];

  before(async () => {
    // The WS-Fed relying party: records every request; answers the cleanup with an image, as AD FS RPs do.
    rp = createHttpsServer({ key: SP_KEY, cert: SP_CERT }, (req, res) => {
      rpHits.push({ method: req.method ?? '', url: req.url ?? '' });
      req.resume();
      if (req.method === 'GET' && (req.url ?? '').includes('wa=wsignoutcleanup1.0')) {
        res.writeHead(200, { 'Content-Type': 'image/gif', 'Cache-Control': 'no-store' });
        res.end(GIF);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<title>RP</title><p id="rp">signed in at the relying party</p>');
    });
    await new Promise<void>((ok) => rp.listen(0, '127.0.0.1', ok));
    rpReply = `https://127.0.0.1:${(rp.address() as AddressInfo).port}/wsfed`;

    const dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-slo-'));
    const trustsDir = writeTrusts([
      { file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
    ]);
    const config = resolveConfig(
      {
        hostname: 'localhost',
        listen: { port: await freePort(), host: '127.0.0.1', tls: 'generate' },
        keys: { dir: join(dir, 'keys') },
        log: { level: 'silent' },
        relyingParties: [
          { identifier: 'urn:app:cleanup', name: 'Cleanup App', replyUrls: [rpReply] },
        ],
        saml2: { trustsDir },
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
    await new Promise<void>((ok) =>
      rp.close(() => {
        ok();
      }),
    );
  });

  test('SAML LogoutRequest: Chromium loads wsignoutcleanup1.0 at the WS-Fed party, then returns the LogoutResponse', async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    const metadata = await (
      await page.request.get(`${base}/FederationMetadata/2007-06/FederationMetadata.xml`)
    ).text();
    const idpCert = certFromMetadata(metadata)[0]!;
    const sp = new SAML({
      entryPoint: `${base}/adfs/ls/`,
      logoutUrl: `${base}/adfs/ls/`,
      callbackUrl: SP_ACS,
      logoutCallbackUrl: SP_SLO,
      issuer: SP_ID,
      audience: SP_ID,
      idpCert,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      privateKey: SP_KEY,
      signatureAlgorithm: 'sha256',
      identifierFormat: EMAIL,
      validateInResponseTo: ValidateInResponseTo.never,
      acceptedClockSkewMs: 0,
    });
    // The SP's endpoints, served by interception: the ACS receives the posted Response, SLO the LogoutResponse.
    let acsPost: URLSearchParams | undefined;
    let sloUrl: URL | undefined;
    await page.route('https://sp.fedgate.test/**', async (route) => {
      const url = new URL(route.request().url());
      if (url.origin + url.pathname === SP_ACS)
        acsPost = new URLSearchParams(route.request().postData() ?? '');
      if (url.origin + url.pathname === SP_SLO) sloUrl = url;
      await route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: `<title>SP</title><p id="sp">${url.pathname}</p>`,
      });
    });

    // 1. WS-Fed sign-in at the relying party (password form, token auto-posted to the local server).
    await page.goto(`${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Aapp%3Acleanup`);
    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', 'Passw0rd!');
    await Promise.all([page.waitForSelector('#rp'), page.click('#submitButton')]);
    assert.ok(rpHits.some((h) => h.method === 'POST' && h.url === '/wsfed'));

    // 2. SAML SSO into the SP with the same session (no form).
    await page.goto(await sp.getAuthorizeUrlAsync('', undefined, {}));
    await page.waitForSelector('#sp');
    const samlResponse = acsPost?.get('SAMLResponse');
    assert.ok(samlResponse, 'the browser posted the Response to the ACS');
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: samlResponse });
    assert.ok(profile);
    assert.equal(rpHits.filter((h) => h.url.includes('wsignoutcleanup1.0')).length, 0);

    // 3. The SP's LogoutRequest: the signed-out page cleans up the WS-Fed party, then goes back to the SP.
    await page.goto(await sp.getLogoutUrlAsync(profile, 'bye', {}));
    await page.waitForURL(`${SP_SLO}?**`);
    await page.waitForSelector('#sp');
    const cleanups = rpHits.filter((h) => h.url.includes('wa=wsignoutcleanup1.0'));
    assert.deepEqual(cleanups, [{ method: 'GET', url: '/wsfed?wa=wsignoutcleanup1.0' }]);
    assert.ok(sloUrl);
    assert.equal(sloUrl.searchParams.get('RelayState'), 'bye');
    const v = await sp.validateRedirectAsync(
      Object.fromEntries(sloUrl.searchParams),
      sloUrl.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
    // The SSO cookie is gone from the browser.
    const cookies = await ctx.cookies(base);
    assert.ok(!cookies.some((c) => c.name.includes('fedgate_sso')), JSON.stringify(cookies));
    await ctx.close();
  });
});
