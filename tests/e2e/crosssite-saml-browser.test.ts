/**
 * Issue 14 §2: SSO and single logout when the service provider is on another site and uses the HTTP-POST
 * binding, in real Chromium. fedgate runs at https://idp.fedgate.test, the service provider (node-saml, a real
 * HTTPS server in this test) at https://sp.othersite.test: two registrable domains, mapped to loopback with
 * --host-resolver-rules, so the browser applies its real SameSite rules to the cross-site POSTs. With the SSO
 * cookie at SameSite=Lax (as before the fix) the POST cases fail: no SSO, IsPassive answered NoPassive, and a
 * LogoutRequest that leaves the session alive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { SignedXml } from 'xml-crypto';
import { resolveConfig } from '../../server/config/load.ts';
import { startServer, type Running } from '../../server/main.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from '../helpers/browser.ts';
import { freePort } from '../helpers/net.ts';
import { certFromMetadata } from '../helpers/verify.ts';
import { EMAIL, SP_CERT, SP_KEY, spMetadata, writeTrusts } from '../fixtures/saml2/harness.ts';

const IDP_HOST = 'idp.fedgate.test';
const SP_HOST = 'sp.othersite.test';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const PARTIAL = 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout';
const RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';
const NO_PASSIVE = 'urn:oasis:names:tc:SAML:2.0:status:NoPassive';

/** What the service provider received at its endpoints. */
interface SpHit {
  path: string;
  fields: URLSearchParams;
}

function autoPost(action: string, fields: Record<string, string>): string {
  const esc = (v: string): string =>
    v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  return `<!doctype html><title>SP</title><form id="f" method="post" action="${esc(action)}">${inputs}</form><script>document.getElementById('f').submit()</script>`;
}

describe('cross-site SAML: a service provider on another site, HTTP-POST and Redirect bindings', () => {
  let running: Running;
  let browser: Browser;
  let sp: Server;
  let idpBase: string;
  let spBase: string;
  let saml: SAML;
  let passiveSaml: SAML;
  let redirectSaml: SAML;
  /** A second SP (with SLO) and a third (without), on the SP's site, to join the same SSO session. */
  let saml2: SAML;
  let saml3: SAML;
  /** Whether the second SP refuses the LogoutRequest fedgate sends it (node-saml's Requester/UnknownPrincipal). */
  let sp2Refuses = false;
  const hits: SpHit[] = [];

  before(async () => {
    const idpPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-e2e-xsite-'));
    // One certificate for both sites from a throw-away CA, trusted by Chromium through its SPKI hash (no
    // ignoreHTTPSErrors): both origins are ordinary secure contexts, so Secure/SameSite apply as on the web.
    const tls = siteCertificate(dir, [IDP_HOST, SP_HOST]);
    // The service provider: its pages start the flows (each sends the browser to fedgate), its ACS and SLO
    // endpoints record what the browser brought back.
    sp = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', spBase);
        void (async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const fields = req.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
          let page = `<title>SP</title><p id="sp">${url.pathname}</p>`;
          if (url.pathname === '/login-post') {
            page = await saml.getAuthorizeFormAsync('rs-post', undefined, {});
          } else if (url.pathname === '/login-redirect') {
            res.writeHead(302, {
              Location: await redirectSaml.getAuthorizeUrlAsync('rs-get', undefined, {}),
            });
            res.end();
            return;
          } else if (url.pathname === '/login-post-2') {
            page = await saml2.getAuthorizeFormAsync('rs-2', undefined, {});
          } else if (url.pathname === '/login-post-3') {
            page = await saml3.getAuthorizeFormAsync('rs-3', undefined, {});
          } else if (url.pathname === '/slo2' && fields.has('SAMLRequest')) {
            // fedgate's LogoutRequest to a participant: node-saml checks its query signature, then answers.
            hits.push({ path: url.pathname, fields });
            const got = await saml2.validateRedirectAsync(
              Object.fromEntries(url.searchParams),
              url.search.slice(1),
            );
            assert.ok(got.profile);
            res.writeHead(302, {
              Location: await saml2.getLogoutResponseUrlAsync(
                got.profile,
                fields.get('RelayState') ?? '',
                {},
                !sp2Refuses,
              ),
            });
            res.end();
            return;
          } else if (url.pathname === '/login-passive-post') {
            page = await passiveSaml.getAuthorizeFormAsync('rs-passive', undefined, {});
          } else if (url.pathname === '/logout-post') {
            page = autoPost(`${idpBase}/adfs/ls/`, {
              SAMLRequest: Buffer.from(signedLogoutRequest(await logoutXml())).toString('base64'),
              RelayState: 'bye-post',
            });
          } else if (url.pathname === '/logout-post-other-session') {
            // Signed, fresh, right Issuer and NameID: only the SessionIndex names no session of this browser.
            page = autoPost(`${idpBase}/adfs/ls/`, {
              SAMLRequest: Buffer.from(
                signedLogoutRequest(await logoutXml('_no-such-session-index')),
              ).toString('base64'),
              RelayState: 'bye-other',
            });
          } else {
            hits.push({ path: url.pathname, fields });
          }
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          res.end(page);
        })();
      });
    });
    await new Promise<void>((ok) => sp.listen(0, '127.0.0.1', ok));
    spBase = `https://${SP_HOST}:${(sp.address() as AddressInfo).port}`;

    const trustsDir = writeTrusts([
      {
        file: 'sp',
        metadataXml: spMetadata({
          entityId: `${spBase}/saml`,
          acs: [{ location: `${spBase}/acs`, index: 0, isDefault: true }],
          slo: [{ location: `${spBase}/slo`, binding: 'redirect' }],
          cert: SP_CERT,
          nameIdFormats: [EMAIL],
        }),
        trust: { nameIdFormat: EMAIL },
      },
      {
        file: 'sp2',
        metadataXml: spMetadata({
          entityId: `${spBase}/saml2`,
          acs: [{ location: `${spBase}/acs2`, index: 0, isDefault: true }],
          slo: [{ location: `${spBase}/slo2`, binding: 'redirect' }],
          cert: SP_CERT,
          nameIdFormats: [EMAIL],
        }),
        trust: { nameIdFormat: EMAIL },
      },
      {
        // No SingleLogoutService: fedgate cannot log this participant out.
        file: 'sp3',
        metadataXml: spMetadata({
          entityId: `${spBase}/saml3`,
          acs: [{ location: `${spBase}/acs3`, index: 0, isDefault: true }],
          cert: SP_CERT,
          nameIdFormats: [EMAIL],
        }),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
    const config = resolveConfig(
      {
        hostname: IDP_HOST,
        listen: { port: idpPort, host: '127.0.0.1', tls: { cert: tls.certFile, key: tls.keyFile } },
        publicUrl: `https://${IDP_HOST}:${idpPort}`,
        keys: { dir: join(dir, 'keys') },
        log: { level: 'silent' },
        saml2: { trustsDir },
      },
      { env: {}, baseDir: dir, source: 'e2e', embeddedDefaults: false },
    );
    running = await startServer({ ...config });
    idpBase = `https://${IDP_HOST}:${running.port}`;
    browser = await launchChromium([mapHostsToLoopback([IDP_HOST, SP_HOST]), tls.spkiFlag]);

    // The host names exist only in the browser's resolver: read the metadata from loopback by port.
    const metadata = await new Promise<string>((ok, fail) => {
      const r = httpsGet(
        {
          host: '127.0.0.1',
          port: running.port,
          path: '/FederationMetadata/2007-06/FederationMetadata.xml',
          headers: { host: `${IDP_HOST}:${running.port}` },
          servername: IDP_HOST,
          ca: tls.cert,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => {
            ok(text);
          });
        },
      );
      r.on('error', fail);
    });
    const idpCert = certFromMetadata(metadata)[0];
    assert.ok(idpCert !== undefined);
    const options = {
      entryPoint: `${idpBase}/adfs/ls/`,
      logoutUrl: `${idpBase}/adfs/ls/`,
      callbackUrl: `${spBase}/acs`,
      logoutCallbackUrl: `${spBase}/slo`,
      issuer: `${spBase}/saml`,
      audience: `${spBase}/saml`,
      idpCert,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      privateKey: SP_KEY,
      signatureAlgorithm: 'sha256' as const,
      digestAlgorithm: 'sha256' as const,
      identifierFormat: EMAIL,
      authnRequestBinding: 'HTTP-POST',
      validateInResponseTo: ValidateInResponseTo.never,
      acceptedClockSkewMs: 0,
    };
    saml = new SAML(options);
    passiveSaml = new SAML({ ...options, passive: true });
    redirectSaml = new SAML({ ...options, authnRequestBinding: 'HTTP-Redirect' });
    const other = (n: number): SAML =>
      new SAML({
        ...options,
        issuer: `${spBase}/saml${n}`,
        audience: `${spBase}/saml${n}`,
        callbackUrl: `${spBase}/acs${n}`,
        logoutCallbackUrl: `${spBase}/slo${n}`,
      });
    saml2 = other(2);
    saml3 = other(3);
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

  let profile: Profile | undefined;
  const logoutXml = async (sessionIndex?: string): Promise<string> => {
    assert.ok(profile !== undefined, 'signed in first');
    return saml._generateLogoutRequest(
      sessionIndex === undefined ? profile : { ...profile, sessionIndex },
    );
  };
  /** An enveloped RSA-SHA256 signature by the SP's key (SAML Bindings §3.5.4: POST messages sign the XML). */
  function signedLogoutRequest(xml: string): string {
    const sig = new SignedXml({
      privateKey: SP_KEY,
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
      signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    });
    sig.addReference({
      xpath: "/*[local-name(.)='LogoutRequest']",
      transforms: [
        'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
        'http://www.w3.org/2001/10/xml-exc-c14n#',
      ],
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    });
    sig.computeSignature(xml, {
      location: {
        reference: "/*[local-name(.)='LogoutRequest']/*[local-name(.)='Issuer']",
        action: 'after',
      },
    });
    return sig.getSignedXml();
  }

  /** Waits for the SP endpoint `path` to be reached; returns what the browser brought. */
  async function reached(page: Page, path: string, before: number): Promise<SpHit> {
    await page.waitForSelector('#sp');
    const hit = hits.slice(before).find((h) => h.path === path);
    assert.ok(
      hit,
      `the browser reached ${path} (got ${hits
        .slice(before)
        .map((h) => h.path)
        .join(',')})`,
    );
    return hit;
  }

  /** Starts a POST-binding sign-in at the SP; signs in with a password when fedgate asks. */
  async function postSignIn(
    page: Page,
    start: string,
    acs = '/acs',
  ): Promise<{ prompted: boolean; hit: SpHit }> {
    const n = hits.length;
    await page.goto(`${spBase}${start}`);
    await page.waitForURL(new RegExp(`^https://${IDP_HOST.replace(/\./g, '\\.')}`));
    await page.waitForLoadState('load');
    const first = await Promise.race([
      page.waitForSelector('#userNameInput').then(() => 'form' as const),
      page.waitForSelector('#sp').then(() => 'sp' as const),
    ]);
    if (first === 'form') {
      assert.equal(new URL(page.url()).hostname, IDP_HOST);
      await page.fill('#userNameInput', 'alice@fedgate.test');
      await page.fill('#passwordInput', 'Passw0rd!');
      await page.click('#submitButton');
    }
    return { prompted: first === 'form', hit: await reached(page, acs, n) };
  }

  /**
   * The SP's SLO endpoint got a LogoutResponse that node-saml verifies (query signature with fedgate's metadata
   * certificate) and refuses as not logged out, whose status is Responder / PartialLogout (SAML Core §3.7.3.2).
   */
  async function assertNotLoggedOut(hit: SpHit, relayState: string): Promise<void> {
    assert.equal(hit.fields.get('RelayState'), relayState);
    const url = new URL(`${spBase}/slo?${hit.fields.toString()}`);
    // node-saml checks the signature first, then throws on any top-level status but Success.
    await assert.rejects(
      saml.validateRedirectAsync(Object.fromEntries(url.searchParams), url.search.slice(1)),
      /Bad status code: urn:oasis:names:tc:SAML:2\.0:status:Responder/,
    );
    const codes = statusOf(
      new URLSearchParams({ SAMLResponse: await inflate(hit.fields.get('SAMLResponse') ?? '') }),
    );
    assert.deepEqual(codes, [RESPONDER, PARTIAL], `status ${codes.join(' / ')}`);
  }

  function statusOf(fields: URLSearchParams): string[] {
    const xml = Buffer.from(fields.get('SAMLResponse') ?? '', 'base64').toString('utf8');
    return [...xml.matchAll(/StatusCode[^>]*Value="([^"]+)"/g)].map((m) => m[1] ?? '');
  }

  let ctx: BrowserContext;
  let page: Page;

  test('a POSTed AuthnRequest from another site signs in, then reuses the SSO session (no password prompt)', async () => {
    ctx = await browser.newContext();
    page = await ctx.newPage();
    const first = await postSignIn(page, '/login-post');
    assert.equal(first.prompted, true);
    const v = await saml.validatePostResponseAsync({
      SAMLResponse: first.hit.fields.get('SAMLResponse') ?? '',
    });
    assert.ok(v.profile);
    profile = v.profile;
    assert.equal(first.hit.fields.get('RelayState'), 'rs-post');

    const again = await postSignIn(page, '/login-post');
    assert.equal(again.prompted, false, 'the cross-site POST carried the SSO session');
    const v2 = await saml.validatePostResponseAsync({
      SAMLResponse: again.hit.fields.get('SAMLResponse') ?? '',
    });
    assert.equal(v2.profile?.nameID, profile.nameID);
  });

  test('IsPassive over a cross-site POST succeeds with the session', async () => {
    const { prompted, hit } = await postSignIn(page, '/login-passive-post');
    assert.equal(prompted, false);
    assert.deepEqual(statusOf(hit.fields), [SUCCESS]);
    const v = await passiveSaml.validatePostResponseAsync({
      SAMLResponse: hit.fields.get('SAMLResponse') ?? '',
    });
    assert.ok(v.profile);
  });

  test('a POSTed LogoutRequest for another session answers Responder/PartialLogout and the session lives on', async () => {
    const n = hits.length;
    await page.goto(`${spBase}/logout-post-other-session`);
    const hit = await reached(page, '/slo', n);
    await assertNotLoggedOut(hit, 'bye-other');
    // Kept: the next POSTed AuthnRequest is answered from the session, without a password prompt.
    const next = await postSignIn(page, '/login-post');
    assert.equal(
      next.prompted,
      false,
      'a LogoutRequest that matched nothing must not end the session',
    );
  });

  test('a POSTed LogoutRequest from another site ends the session and answers Success', async () => {
    const n = hits.length;
    await page.goto(`${spBase}/logout-post`);
    const hit = await reached(page, '/slo', n);
    const url = new URL(`${spBase}/slo?${hit.fields.toString()}`);
    const v = await saml.validateRedirectAsync(
      Object.fromEntries(url.searchParams),
      url.search.slice(1),
    );
    assert.equal(v.loggedOut, true, 'node-saml reads a Success LogoutResponse');
    assert.equal(hit.fields.get('RelayState'), 'bye-post');
    // The session is really gone: the next sign-in asks for the password again. Checked with the Redirect
    // binding (a top-level GET, which carries even a Lax cookie), so a session left alive cannot hide.
    const next = await postSignIn(page, '/login-redirect');
    assert.equal(next.prompted, true);
    profile =
      (
        await saml.validatePostResponseAsync({
          SAMLResponse: next.hit.fields.get('SAMLResponse') ?? '',
        })
      ).profile ?? undefined;
  });

  test('a Redirect-binding LogoutRequest ends the session too', async () => {
    assert.ok(profile);
    const n = hits.length;
    await page.goto(await saml.getLogoutUrlAsync(profile, 'bye-redirect', {}));
    const hit = await reached(page, '/slo', n);
    const url = new URL(`${spBase}/slo?${hit.fields.toString()}`);
    const v = await saml.validateRedirectAsync(
      Object.fromEntries(url.searchParams),
      url.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
    const next = await postSignIn(page, '/login-redirect');
    assert.equal(next.prompted, true);
    profile =
      (
        await saml.validatePostResponseAsync({
          SAMLResponse: next.hit.fields.get('SAMLResponse') ?? '',
        })
      ).profile ?? undefined;
    await ctx.close();
  });

  test('a LogoutRequest that finds no session never answers Success', async () => {
    // A fresh browser profile: no fedgate session at all; the SP still asks to log its user out.
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    const n = hits.length;
    await p.goto(`${spBase}/logout-post`);
    const hit = await reached(p, '/slo', n);
    await assertNotLoggedOut(hit, 'bye-post');
    await fresh.close();
  });

  test('IsPassive without a session answers NoPassive (control: the passive flow is really checked)', async () => {
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    const n = hits.length;
    await p.goto(`${spBase}/login-passive-post`);
    const hit = await reached(p, '/acs', n);
    const codes = statusOf(hit.fields);
    assert.equal(codes[1], NO_PASSIVE);
    await fresh.close();
  });

  /**
   * One SSO session shared by the first SP and `other` (joined over a cross-site POST without a prompt), then a
   * POSTed LogoutRequest from the first SP. Returns what reached the first SP's SLO endpoint; the fedgate
   * session is checked to be gone (SAML Core §3.7.3.2: it ends at the session authority whatever the others do).
   */
  async function logoutWithTwoParticipants(other: 2 | 3): Promise<{ hit: SpHit; toSp2: number }> {
    const c = await browser.newContext();
    const p = await c.newPage();
    const first = await postSignIn(p, '/login-post');
    assert.equal(first.prompted, true);
    profile =
      (
        await saml.validatePostResponseAsync({
          SAMLResponse: first.hit.fields.get('SAMLResponse') ?? '',
        })
      ).profile ?? undefined;
    const joined = await postSignIn(p, `/login-post-${other}`, `/acs${other}`);
    assert.equal(joined.prompted, false, 'the second SP joined the SSO session');
    const v = await (other === 2 ? saml2 : saml3).validatePostResponseAsync({
      SAMLResponse: joined.hit.fields.get('SAMLResponse') ?? '',
    });
    assert.ok(v.profile);
    const n = hits.length;
    await p.goto(`${spBase}/logout-post`);
    const hit = await reached(p, '/slo', n);
    const toSp2 = hits.slice(n).filter((h) => h.path === '/slo2').length;
    const next = await postSignIn(p, '/login-post');
    assert.equal(next.prompted, true, 'the fedgate session ended');
    await c.close();
    return { hit, toSp2 };
  }

  test('single logout across sites: the other participant confirms, the originator hears Success', async () => {
    sp2Refuses = false;
    const { hit, toSp2 } = await logoutWithTwoParticipants(2);
    assert.equal(toSp2, 1, 'fedgate sent the second SP a LogoutRequest');
    const url = new URL(`${spBase}/slo?${hit.fields.toString()}`);
    const v = await saml.validateRedirectAsync(
      Object.fromEntries(url.searchParams),
      url.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
  });

  test('a participant that refuses the logout makes it partial: Responder/PartialLogout', async () => {
    sp2Refuses = true;
    try {
      const { hit, toSp2 } = await logoutWithTwoParticipants(2);
      assert.equal(toSp2, 1);
      await assertNotLoggedOut(hit, 'bye-post');
    } finally {
      sp2Refuses = false;
    }
  });

  test('a participant without a SingleLogoutService makes the logout partial', async () => {
    const { hit } = await logoutWithTwoParticipants(3);
    await assertNotLoggedOut(hit, 'bye-post');
  });
});

/** The Redirect binding's SAMLResponse is raw DEFLATE + base64; returns it re-encoded as plain base64 XML. */
async function inflate(b64: string): Promise<string> {
  const { inflateRawSync } = await import('node:zlib');
  return inflateRawSync(Buffer.from(b64, 'base64')).toString('base64');
}
