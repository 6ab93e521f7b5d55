import { opensslSelfSigned } from '../helpers/pki.ts';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, waitUntil } from '../helpers/net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Frame, Page } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import { SIGNING_CERT_FILE } from '../../server/keys/store.ts';
import { startServer, type Running } from '../../server/main.ts';
import { launchChromium } from '../helpers/browser.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  readWsFedMetadata,
  verifyMetadataWithXmlCrypto,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';

// The sign-in page in real headless Chromium against a real HTTPS listener (self-signed certificate generated on
// first run, as with embedded defaults): the test link signs a demo user in; the Microsoft 365 flow auto-posts
// the token (with and without JavaScript); the page's CSP blocks what it should. Every token is judged the way a
// relying party would judge it, from what the browser actually posted: xml-crypto and xmlsec1 with the
// certificate pinned from fedgate's metadata, never fedgate's own token test page alone.

const UPN = 'http://schemas.xmlsoap.org/claims/UPN';
const IMMUTABLE_ID = 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID';

/**
 * The ImmutableID Entra Connect derives from an objectGUID: base64 of the GUID's bytes in .NET Guid.ToByteArray
 * order (the first three groups little-endian). The GUIDs are the embedded demo directory's fixed ones.
 */
function immutableIdOf(guid: string): string {
  const b = Buffer.from(guid.replace(/-/g, ''), 'hex');
  const flip = (from: number, to: number): Buffer => Buffer.from(b.subarray(from, to)).reverse();
  return Buffer.concat([flip(0, 4), flip(4, 6), flip(6, 8), b.subarray(8)]).toString('base64');
}
const ALICE_GUID = '086ffe47-984f-4734-bd0d-b90223cff0b0';
const BOB_GUID = '4b5db359-8a53-4027-9c7b-a517025fb74a';

/** What a relying party trusts: fedgate's issuer name and token-signing certificate, from its metadata. */
interface Trust {
  issuer: string;
  certPem: string;
}

/**
 * A relying party's checks on a posted WS-Fed sign-in response ([MS-MWBF] §2.2.4): wa, then the assertion
 * verified by xml-crypto and by xmlsec1 with the pinned certificate only, its issuer, audience, NameIdentifier
 * and claims read from the signed bytes.
 */
function verifyPostedSignIn(
  posted: URLSearchParams,
  trust: Trust,
  expect: { audience: string; upn: string; objectGuid: string },
): Saml11Claims {
  assert.equal(posted.get('wa'), 'wsignin1.0');
  const wresult = posted.get('wresult') ?? '';
  const token = extractAssertionFromRstr(wresult);
  const claims = verifySaml11WithXmlCrypto(token, trust.certPem);
  for (const doc of [token, wresult]) {
    const r = verifyWithXmlsec1(doc, trust.certPem, SAML11_ID_ATTR);
    assert.ok(r.ok, r.output);
  }
  assert.equal(claims.issuer, trust.issuer);
  assert.equal(claims.audience, expect.audience);
  const immutableId = immutableIdOf(expect.objectGuid);
  assert.equal(claims.nameIdentifier, immutableId);
  assert.deepEqual(claims.attributes[UPN], [expect.upn]);
  assert.deepEqual(claims.attributes[IMMUTABLE_ID], [immutableId]);
  return claims;
}

/** A self-signed certificate that is not fedgate's (openssl CLI), for the verifiers' negative controls. */
function throwawayCertificate(dir: string): string {
  opensslSelfSigned(dir, 'other', 'not fedgate', 1);
  return readFileSync(join(dir, 'other.crt'), 'utf8');
}

describe('sign-in in a real browser', () => {
  let running: Running;
  let browser: Browser;
  let base: string;
  let dir: string;

  /**
   * The certificate a relying party pins: the one signing key in fedgate's federation metadata, which signs that
   * metadata and is the certificate in fedgate's key store on disk (so a token it verifies is fedgate's).
   */
  async function trustFromMetadata(page: Page): Promise<Trust> {
    const metadata = await (
      await page.request.get(`${base}/FederationMetadata/2007-06/FederationMetadata.xml`)
    ).text();
    const certs = certFromMetadata(metadata);
    assert.equal(certs.length, 1, 'one token-signing certificate in the metadata');
    const certPem = certs[0] ?? '';
    verifyMetadataWithXmlCrypto(metadata, certPem);
    const onDisk = new X509Certificate(readFileSync(join(dir, 'keys', SIGNING_CERT_FILE)));
    assert.equal(new X509Certificate(certPem).fingerprint256, onDisk.fingerprint256);
    return { issuer: readWsFedMetadata(metadata).issuer, certPem };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-'));
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
    // The token page is the test relying party's reply URL (publicUrl + /adfs/test/result). The test keeps what the
    // browser posts there, to judge the token itself rather than believe the page.
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    const trust = await trustFromMetadata(page);
    const reply = `${base}/adfs/test/result`;
    const posts: URLSearchParams[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url() === reply)
        posts.push(new URLSearchParams(request.postData() ?? ''));
    });
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

    // The independent judgement: the browser posted one token to the reply URL, and it is fedgate's.
    assert.equal(posts.length, 1, 'one token POST to the reply URL');
    const posted = posts[0] ?? new URLSearchParams();
    const claims = verifyPostedSignIn(posted, trust, {
      audience: 'urn:fedgate:test',
      upn: 'alice@fedgate.test',
      objectGuid: ALICE_GUID,
    });
    // The page showed this token: the same subject, and the certificate the relying party pinned.
    assert.ok(
      ((await page.textContent('#result')) ?? '').includes(claims.nameIdentifier ?? '(none)'),
    );
    assert.ok(
      ((await page.textContent('#signature')) ?? '').includes(
        new X509Certificate(trust.certPem).fingerprint.replace(/:/g, ''),
      ),
    );

    // Controls: the same verifiers refuse the posted token under another certificate, or with one claim changed,
    // so their acceptance above means something.
    const other = throwawayCertificate(dir);
    const token = extractAssertionFromRstr(posted.get('wresult') ?? '');
    assert.throws(() => verifySaml11WithXmlCrypto(token, other), /signature invalid/);
    assert.equal(verifyWithXmlsec1(token, other, SAML11_ID_ATTR).ok, false);
    const forged = token.replace('>alice@fedgate.test<', '>mallory@fedgate.test<');
    assert.notEqual(forged, token);
    assert.throws(() => verifySaml11WithXmlCrypto(forged, trust.certPem), /signature invalid/);
    assert.equal(verifyWithXmlsec1(forged, trust.certPem, SAML11_ID_ATTR).ok, false);
    await ctx.close();
  });

  test('Microsoft 365: the token is auto-posted to login.srf, with and without JavaScript', async () => {
    for (const javaScriptEnabled of [true, false]) {
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled });
      const page = await ctx.newPage();
      const trust = await trustFromMetadata(page);
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
      // Entra's username= hint: the page names the user instead of asking (issue 17), with another-account link.
      assert.equal(
        await page.inputValue('input[type="hidden"][name="UserName"]'),
        'bob@fedgate.test',
      );
      assert.match((await page.textContent('#signingInAs')) ?? '', /bob@fedgate\.test/);
      assert.equal(await page.locator('#differentAccount').count(), 1);
      await page.fill('#passwordInput', 'Passw0rd!');
      await page.click('#submitButton');
      if (!javaScriptEnabled) {
        await page.waitForSelector('noscript button, button[type=submit]');
        await page.click('button[type=submit]');
      }
      await page.waitForSelector('#entra');
      assert.ok(posted, 'the browser posted to login.srf');
      assert.equal(posted.get('wctx'), wctx);
      verifyPostedSignIn(posted, trust, {
        audience: 'urn:federation:MicrosoftOnline',
        upn: 'bob@fedgate.test',
        objectGuid: BOB_GUID,
      });
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
    // No sleeps: page.goto resolves on the load event, which waits for parser-run scripts, for every image to load
    // or fail (so an onerror handler has run) and for every frame to load or be blocked. A dialog blocks the page
    // until the handler above dismisses it, so one opened by then has been recorded. Control pages on other
    // origins, which run the same markup unprotected, show that these checks see what they look for.
    const injected = '"><img src=x onerror=alert(1)><script>alert(2)</script>';
    await page.route('https://control.example/**', (route) =>
      new URL(route.request().url()).pathname === '/'
        ? route.fulfill({
            status: 200,
            contentType: 'text/html',
            body: `<input id="userNameInput" value="${injected}">`,
          })
        : route.fulfill({ status: 404 }),
    );
    await page.goto('https://control.example/');
    assert.deepEqual(
      [...dialogs].sort(),
      ['1', '2'],
      'control: unescaped input runs in a page without CSP',
    );
    assert.equal(await page.locator('img').count(), 1);
    dialogs.length = 0;

    await page.goto(
      `${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest&username=${encodeURIComponent(injected)}`,
    );
    assert.deepEqual(dialogs, []);
    assert.equal(await page.locator('img').count(), 0);
    // The hinted name is shown as who is signing in, and kept in the form: as text, never as markup.
    assert.equal(await page.inputValue('input[name="UserName"]'), injected, 'kept as text');
    assert.ok(((await page.textContent('#signingInAs')) ?? '').includes(injected), 'shown as text');

    // A page on another site tries to frame the sign-in page: the frame must stay empty (X-Frame-Options/CSP).
    // Beside it, a control frame from the same test server, which allows framing, renders its form. The attacker
    // page is served for real from loopback (127.0.0.1, another site than localhost): Chromium's local network
    // access checks block a page fulfilled for a public name from framing loopback at all, which would keep the
    // frame empty whatever fedgate sends.
    const signInUrl = `${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest`;
    const attacker = createHttpServer((req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        req.url === '/framable'
          ? '<input id="passwordInput">'
          : `<iframe name="signin" src="${signInUrl}"></iframe><iframe name="control" src="/framable"></iframe>`,
      );
    });
    await new Promise<void>((ok) => attacker.listen(0, '127.0.0.1', ok));
    try {
      const { port } = attacker.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/`);
      // Both frames are attached and have navigated away from their initial about:blank (a blocked one to
      // Chromium's error page). Playwright may learn of a frame in another renderer process a little after load.
      const named = (name: string): Frame | null => page.frame({ name });
      await waitUntil(
        () =>
          `both frames attached and navigated (${page
            .frames()
            .map((f) => `${f.name()}=${f.url()}`)
            .join(', ')})`,
        () =>
          ['signin', 'control'].every((name) => {
            const url = named(name)?.url();
            return url !== undefined && url !== '' && url !== 'about:blank';
          }),
      );
      const signin = named('signin');
      const control = named('control');
      assert.ok(signin && control, 'both frames exist');
      await Promise.all(
        [signin, control].map((f) => f.waitForLoadState('load', { timeout: 10_000 })),
      );
      assert.equal(await control.locator('#passwordInput').count(), 1, 'control frame renders');
      assert.equal(
        await signin.locator('#passwordInput').count(),
        0,
        'the sign-in form does not render inside a frame',
      );
    } finally {
      await new Promise((ok) => attacker.close(ok));
    }
    await ctx.close();
  });
});
