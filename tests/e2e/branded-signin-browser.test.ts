/**
 * Issue 17 "Done when": a branded, localised sign-in works end to end in Chromium for Microsoft 365 (WS-Fed) and
 * for a SAML service provider. fedgate runs over real TLS at https://login.acme.test with a theme folder
 * (tests/fixtures/branding-e2e/themes/acme: stylesheet, RTL stylesheet, logo, illustration) and web content with a
 * German override; the service provider (node-saml, a real HTTPS server in this test) at https://hr.partner.test.
 * Both names are mapped to loopback in Chromium, whose trust is pinned to the test certificate's key.
 *
 * Tokens are judged as a relying party would: the WS-Fed token by xml-crypto and xmlsec1 with the certificate
 * from fedgate's metadata, the SAML Response by node-saml. Nothing here reads fedgate's own verdict.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import { startServer, type Running } from '../../server/main.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from '../helpers/browser.ts';
import { freePort } from '../helpers/net.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';
import { EMAIL, SP_CERT, SP_KEY, spMetadata, writeTrusts } from '../fixtures/saml2/harness.ts';
import { THEMES_DIR, catalogue, englishSentences } from '../fixtures/branding-e2e/pages.ts';

const IDP_HOST = 'login.acme.test';
const SP_HOST = 'hr.partner.test';
const M365 = 'urn:federation:MicrosoftOnline';
const UPN = 'http://schemas.xmlsoap.org/claims/UPN';
const PASSWORD = 'Passw0rd!';

describe('issue 17: a branded, localised sign-in in Chromium', () => {
  let running: Running;
  let browser: Browser;
  let sp: Server;
  let idpBase: string;
  let spBase: string;
  let saml: SAML;
  let idpCert: string;
  /** What the SP's ACS received. */
  const acs: URLSearchParams[] = [];

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-branded-'));
    const tls = siteCertificate(dir, [IDP_HOST, SP_HOST]);
    sp = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const url = new URL(req.url ?? '/', spBase);
          let page = `<title>HR</title><p id="sp">${url.pathname}</p>`;
          if (url.pathname === '/login') page = await saml.getAuthorizeFormAsync('hr-relay');
          else if (url.pathname === '/acs')
            acs.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          res.end(page);
        })();
      });
    });
    await new Promise<void>((ok) => sp.listen(0, '127.0.0.1', ok));
    spBase = `https://${SP_HOST}:${String((sp.address() as AddressInfo).port)}`;

    const trustsDir = writeTrusts([
      {
        file: 'hr',
        metadataXml: spMetadata({
          entityId: `${spBase}/saml`,
          acs: [{ location: `${spBase}/acs`, index: 0, isDefault: true }],
          cert: SP_CERT,
          nameIdFormats: [EMAIL],
        }),
        trust: { name: 'Acme HR', nameIdFormat: EMAIL },
      },
    ]);
    const port = await freePort();
    const config = resolveConfig(
      {
        hostname: IDP_HOST,
        listen: { port, host: '127.0.0.1', tls: { cert: tls.certFile, key: tls.keyFile } },
        publicUrl: `https://${IDP_HOST}:${String(port)}`,
        keys: { dir: join(dir, 'keys') },
        log: { level: 'silent' },
        saml2: { trustsDir },
        microsoft365: { federatedDomains: ['fedgate.test'] },
        lockout: { enabled: false },
        branding: {
          themesDir: THEMES_DIR,
          theme: 'acme',
          webContent: {
            companyName: 'Acme',
            signInPageDescriptionText: 'Sign in with your Acme account.',
            helpDeskLink: 'https://help.acme.example/',
            helpDeskLinkText: 'Acme help desk',
            locales: {
              de: {
                signInPageDescriptionText: 'Melden Sie sich mit Ihrem Acme-Konto an.',
                helpDeskLinkText: 'Acme-Hilfe',
              },
              fr: { signInPageDescriptionText: 'Connectez-vous avec votre compte Acme.' },
            },
          },
        },
      },
      { env: {}, baseDir: dir, source: 'e2e', embeddedDefaults: false },
    );
    running = await startServer({ ...config });
    idpBase = `https://${IDP_HOST}:${String(running.port)}`;
    browser = await launchChromium([mapHostsToLoopback([IDP_HOST, SP_HOST]), tls.spkiFlag]);

    // The host names exist only in the browser's resolver: the metadata is read from loopback by port.
    const metadata = await new Promise<string>((ok, fail) => {
      const r = httpsGet(
        {
          host: '127.0.0.1',
          port: running.port,
          path: '/FederationMetadata/2007-06/FederationMetadata.xml',
          headers: { host: `${IDP_HOST}:${String(running.port)}` },
          servername: IDP_HOST,
          ca: tls.cert,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            ok(text);
          });
        },
      );
      r.on('error', fail);
    });
    const [cert] = certFromMetadata(metadata);
    assert.ok(cert !== undefined);
    idpCert = cert;
    saml = new SAML({
      entryPoint: `${idpBase}/adfs/ls/`,
      callbackUrl: `${spBase}/acs`,
      issuer: `${spBase}/saml`,
      audience: `${spBase}/saml`,
      idpCert,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      privateKey: SP_KEY,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: EMAIL,
      authnRequestBinding: 'HTTP-POST',
      validateInResponseTo: ValidateInResponseTo.never,
    });
  });
  after(async () => {
    await browser.close();
    await running.stop();
    await new Promise<void>((ok) => {
      sp.close(() => {
        ok();
      });
    });
  });

  async function context(locale: string): Promise<BrowserContext> {
    return browser.newContext({ locale });
  }

  /** The branding as the browser rendered it: theme stylesheet applied, logo and illustration loaded. */
  async function assertBranded(page: Page, lang: string): Promise<void> {
    // A string, so the test runner's transform adds nothing to the code the page runs.
    const seen = await page.evaluate<{
      lang: string;
      border: string;
      logo?: { loaded: boolean; src: string };
      illustration?: { loaded: boolean; src: string };
      title: string;
    }>(
      `(() => {
      const img = (id) => {
        const e = document.getElementById(id);
        return e instanceof HTMLImageElement
          ? { loaded: e.complete && e.naturalWidth > 0, src: e.getAttribute('src') || '' }
          : undefined;
      };
      const header = document.getElementById('header');
      return {
        lang: document.documentElement.lang,
        border: header === null ? '' : getComputedStyle(header).borderBottom,
        logo: img('logo'),
        illustration: img('illustration'),
        title: document.title,
      };
    })()`,
    );

    assert.equal(seen.lang, lang);
    assert.match(seen.border, /4px solid rgb\(11, 83, 148\)/, "the theme's stylesheet applies");
    assert.ok(seen.logo?.loaded, `logo loaded: ${JSON.stringify(seen.logo)}`);
    assert.match(seen.logo.src, /^\/adfs\/portal\/theme\/[0-9a-f]{16}\.png$/);
    assert.ok(seen.illustration?.loaded, 'illustration loaded');
    assert.match(seen.title, /– Acme$/);
  }

  /** No English sentence of the reference catalogue in what the reader sees. */
  async function assertNoEnglish(page: Page, lang: string): Promise<void> {
    const text = await page.evaluate(() => document.body.innerText);
    const english = englishSentences(lang).filter((s) => text.includes(s.text));
    assert.deepEqual(english, [], `English on the ${lang} page`);
  }

  test('Microsoft 365 (WS-Fed) in German, a wrong password, the picker to French, then the token verified', async () => {
    const ctx = await context('de-DE');
    const page = await ctx.newPage();
    let posted: URLSearchParams | undefined;
    await page.route('https://login.microsoftonline.com/**', async (route) => {
      posted = new URLSearchParams(route.request().postData() ?? '');
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="entra">ok</p>' });
    });
    await page.goto(
      `${idpBase}/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, wctx: 'rq=1' }).toString()}`,
    );
    await assertBranded(page, 'de');
    assert.equal(
      await page.textContent('#signInDescription'),
      'Melden Sie sich mit Ihrem Acme-Konto an.',
    );
    assert.equal(await page.textContent('#helpDeskLink'), 'Acme-Hilfe');
    assert.equal(await page.textContent('h1'), catalogue('de')['signin.heading']);
    await assertNoEnglish(page, 'de');

    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', 'not the password');
    await Promise.all([page.waitForEvent('load'), page.click('#submitButton')]);
    assert.equal(
      (await page.textContent('#errorText'))?.trim(),
      catalogue('de')['msg.incorrectUserIdOrPasswordType'],
    );
    // The error has focus (announced and reachable at once).
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'errorText');

    // The picker, mid-way: back to the same sign-in, now in French.
    await page.selectOption('#languageSelect', 'fr');
    await Promise.all([page.waitForEvent('load'), page.click('#languageButton')]);
    assert.match(page.url(), /\/adfs\/ls\/\?AuthState=[A-Za-z0-9_-]+$/);
    await assertBranded(page, 'fr');
    assert.equal(
      await page.textContent('#signInDescription'),
      'Connectez-vous avec votre compte Acme.',
    );
    await assertNoEnglish(page, 'fr');
    assert.equal(await page.inputValue('#userNameInput'), '', 'a resumed page starts clean');
    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', PASSWORD);
    await page.click('#submitButton');
    await page.waitForSelector('#entra');
    assert.ok(posted, 'the browser posted the token to login.srf');
    assert.equal(posted.get('wa'), 'wsignin1.0');
    assert.equal(posted.get('wctx'), 'rq=1');
    const wresult = posted.get('wresult') ?? '';
    const token = extractAssertionFromRstr(wresult);
    const claims = verifySaml11WithXmlCrypto(token, idpCert);
    assert.equal(claims.audience, M365);
    assert.deepEqual(claims.attributes[UPN], ['alice@fedgate.test']);
    const x = verifyWithXmlsec1(token, idpCert, SAML11_ID_ATTR);
    assert.ok(x.ok, x.output);
    // The choice is remembered: the next page is French although the browser asks for German.
    await page.goto(
      `${idpBase}/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: 'urn:nobody' }).toString()}`,
    );
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr');
    await ctx.close();
  });

  test('a SAML service provider in German: node-saml accepts the Response', async () => {
    const ctx = await context('de-AT');
    const page = await ctx.newPage();
    const n = acs.length;
    await page.goto(`${spBase}/login`);
    await page.waitForURL(new RegExp(`^https://${IDP_HOST.replace(/\./g, '\\.')}`));
    await page.waitForSelector('#userNameInput');
    await assertBranded(page, 'de');
    assert.match((await page.textContent('#relyingParty')) ?? '', /Acme HR/);
    await assertNoEnglish(page, 'de');
    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', PASSWORD);
    await page.click('#submitButton');
    await page.waitForSelector('#sp');
    const got = acs[n];
    assert.ok(got, 'the SP received a Response');
    assert.equal(got.get('RelayState'), 'hr-relay');
    const v = await saml.validatePostResponseAsync({
      SAMLResponse: got.get('SAMLResponse') ?? '',
      RelayState: got.get('RelayState') ?? '',
    });
    assert.ok(v.profile, 'node-saml validated the Response');
    assert.equal(v.profile.nameID, 'alice@fedgate.test');
    await ctx.close();
  });

  test('in Arabic the page is right to left in the browser, with the RTL stylesheet, and signs in', async () => {
    const ctx = await context('ar');
    const page = await ctx.newPage();
    let posted: URLSearchParams | undefined;
    await page.route('https://login.microsoftonline.com/**', async (route) => {
      posted = new URLSearchParams(route.request().postData() ?? '');
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="entra">ok</p>' });
    });
    await page.goto(
      `${idpBase}/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365 }).toString()}`,
    );
    await assertBranded(page, 'ar');
    const style = await page.evaluate(() => ({
      html: getComputedStyle(document.documentElement).direction,
      body: getComputedStyle(document.body).direction,
      align: getComputedStyle(document.body).textAlign,
      sheets: document.styleSheets.length,
    }));
    assert.equal(style.html, 'rtl');
    assert.equal(style.body, 'rtl');
    assert.equal(style.align, 'right', "the theme's RTL stylesheet applies");
    assert.equal(style.sheets, 2);
    await assertNoEnglish(page, 'ar');
    await page.fill('#userNameInput', 'alice@fedgate.test');
    await page.fill('#passwordInput', PASSWORD);
    await page.click('#submitButton');
    await page.waitForSelector('#entra');
    assert.ok(posted);
    const claims = verifySaml11WithXmlCrypto(
      extractAssertionFromRstr(posted.get('wresult') ?? ''),
      idpCert,
    );
    assert.deepEqual(claims.attributes[UPN], ['alice@fedgate.test']);
    await ctx.close();
  });
});
