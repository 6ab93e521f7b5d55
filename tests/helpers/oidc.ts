/**
 * A running fedgate (server/main.ts startServer: real HTTPS socket) for OpenID Connect / OAuth 2.0 tests (issue 19):
 * a real host name that resolves to loopback only in this test's clients (Chromium's --host-resolver-rules, a
 * lookup override for Node's HTTPS, a getaddrinfo override in Python drivers), a server certificate for that name
 * from a throw-away CA made with the openssl CLI (every client checks it: no ignoreHTTPSErrors, no verify=False),
 * the Samba AD DC as directory, and application groups from the config. Plus what relying parties do with it:
 * discovery, the JWKS as a jose remote key set, token verification with jose, and a Chromium sign-in on an
 * authorize URL that catches the redirect to the client.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRemoteJWKSet,
  customFetch,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyResult,
  type ProtectedHeaderParameters,
} from 'jose';
import type { Browser, Page } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { Clock } from '../../server/lib/clock.ts';
import { startServer, type Running } from '../../server/main.ts';
import { LogCapture } from './app.ts';
import {
  launchChromium,
  mapHostsToLoopback,
  siteCertificate,
  type SiteCertificate,
} from './browser.ts';
import { freePort } from './net.ts';
import { sambaEnv, sambaLdapConfig, type SambaEnv } from './samba.ts';

/** The federation service's host name in these tests (a name, not an address: issuer, cookies, TLS all use it). */
export const OIDC_HOST = 'adfs.contoso.test';

/** AD FS-style client secret hash for the config: `sha256:` + base64url(SHA-256(secret)). */
export function clientSecretHash(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('base64url')}`;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * HTTPS to `hosts` (mapped to 127.0.0.1 by a lookup override, so the URL, SNI and Host header stay the real
 * name), trusting only `ca`.
 */
export function loopbackHttps(
  ca: string,
  hosts: readonly string[],
): (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<HttpAnswer> {
  const lookup: LookupFunction = (hostname, options, cb) => {
    const address = hosts.includes(hostname) ? '127.0.0.1' : undefined;
    if (address === undefined) {
      cb(new Error(`${hostname} is not a test host`), '', 4);
      return;
    }
    // Node 20 asks for all addresses (autoSelectFamily); older callers for one.
    if (options.all === true)
      (cb as unknown as (e: null, a: object[]) => void)(null, [{ address, family: 4 }]);
    else cb(null, address, 4);
  };
  return (url, init = {}) =>
    new Promise((ok, fail) => {
      const req = httpsRequest(
        url,
        { method: init.method ?? 'GET', headers: init.headers ?? {}, ca, lookup },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            ok({ status: res.statusCode ?? 0, headers: res.headers, text });
          });
        },
      );
      req.on('error', fail);
      req.end(init.body);
    });
}

export interface OidcSite {
  host: string;
  port: number;
  /** https://host:port */
  base: string;
  /** The OpenID issuer: base + /adfs (the MSAL / ADAL authority). */
  authority: string;
  running: Running;
  env: SambaEnv;
  logs: LogCapture;
  /** Scratch folder of this site (config baseDir: relative paths in the config resolve here). */
  dir: string;
  tls: SiteCertificate;
  /** PEM file of the CA that issued the site's certificate (REQUESTS_CA_BUNDLE for Python clients). */
  caFile: string;
  /** HTTPS to this site and its extra hosts over loopback, trusting only the site CA. */
  https: ReturnType<typeof loopbackHttps>;
  /** A fetch for jose's / openid-client's `customFetch` option, over `https`. */
  fetch: (
    url: string,
    init?: { method?: string; headers?: HeadersInit; body?: unknown },
  ) => Promise<Response>;
  /** Chromium resolving the site's hosts to loopback and trusting exactly the site's key (launched on first use). */
  browser(): Promise<Browser>;
  close(): Promise<void>;
}

/**
 * fedgate behind its own HTTPS listener at https://`host`:<free port>, directory = the Samba AD DC. `input` is
 * merged over that (oauth.applicationGroups etc.); relative paths in it resolve against `site.dir`, which
 * `prepare(dir)` may fill first (certificates for jwtSigningCertificateFiles, rule files).
 */
export async function startOidcSite(
  input: ConfigInput,
  opts: {
    host?: string;
    extraHosts?: string[];
    clock?: Clock;
    prepare?: (dir: string) => void;
  } = {},
): Promise<OidcSite> {
  const env = sambaEnv();
  const host = opts.host ?? OIDC_HOST;
  const hosts = [host, ...(opts.extraHosts ?? [])];
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-oidc-'));
  const tls = siteCertificate(dir, hosts);
  opts.prepare?.(dir);
  const port = await freePort();
  const base = `https://${host}:${port}`;
  const config = resolveConfig(
    {
      hostname: host,
      publicUrl: base,
      listen: { port, host: '127.0.0.1', tls: { cert: tls.certFile, key: tls.keyFile } },
      keys: { dir: join(dir, 'keys') },
      directory: sambaLdapConfig(env),
      log: { level: 'info' },
      ...input,
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
  const logs = new LogCapture();
  const running = await startServer(config, {
    logDestination: logs,
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
  });
  const caFile = join(dir, 'site-ca.crt');
  const https = loopbackHttps(readFileSync(caFile, 'utf8'), hosts);
  let browser: Browser | undefined;
  const fetchImpl: OidcSite['fetch'] = async (url, init = {}) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    let body: string | undefined;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body instanceof URLSearchParams) {
      body = init.body.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (init.body !== undefined && init.body !== null)
      throw new Error('loopback fetch: only string and URLSearchParams bodies');
    const res = await https(url, {
      method: init.method ?? 'GET',
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
    }
    const nullBody =
      [204, 304].includes(res.status) || (res.status >= 300 && res.status < 400 && res.text === '');
    return new Response(nullBody ? null : res.text, { status: res.status, headers: out });
  };
  return {
    host,
    port,
    base,
    authority: `${base}/adfs`,
    running,
    env,
    logs,
    dir,
    tls,
    caFile,
    https,
    fetch: fetchImpl,
    browser: async () => {
      browser ??= await launchChromium([mapHostsToLoopback(hosts), tls.spkiFlag]);
      return browser;
    },
    close: async () => {
      await browser?.close();
      await running.stop();
    },
  };
}

/** GET a JSON document from the site (status 200 required). */
export async function getJson<T = Record<string, unknown>>(
  site: OidcSite,
  url: string,
): Promise<T> {
  const res = await site.https(url);
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${res.text.slice(0, 300)}`);
  return JSON.parse(res.text) as T;
}

/** The OpenID Provider metadata fields these tests read (OpenID Connect Discovery 1.0 §3, AD FS additions). */
export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
  device_authorization_endpoint?: string;
  /** AD FS: the iss of access tokens (the federation service identifier). */
  access_token_issuer?: string;
  [k: string]: unknown;
}

export function discovery(site: OidcSite): Promise<Discovery> {
  return getJson<Discovery>(site, `${site.authority}/.well-known/openid-configuration`);
}

/** jose's remote key set on discovery's jwks_uri, fetched over the site's HTTPS (certificate checked). */
export async function remoteJwks(site: OidcSite): Promise<ReturnType<typeof createRemoteJWKSet>> {
  const d = await discovery(site);
  return createRemoteJWKSet(new URL(d.jwks_uri), {
    [customFetch]: (url, options) =>
      site.fetch(url, { method: options.method, headers: options.headers }),
  });
}

/**
 * jose's verdict on a JWT: RS256 signature by a key of the JWKS, `iss`, `aud` and `exp` (jose checks exp and nbf
 * whenever present; `requiredClaims` makes exp and iat mandatory).
 */
export async function verifyJwt(
  jwks: ReturnType<typeof createRemoteJWKSet>,
  token: string,
  expect: { issuer: string; audience: string },
): Promise<JWTVerifyResult & { payload: JWTPayload; protectedHeader: ProtectedHeaderParameters }> {
  return jwtVerify(token, jwks, {
    issuer: expect.issuer,
    audience: expect.audience,
    algorithms: ['RS256'],
    requiredClaims: ['exp', 'iat', 'iss', 'aud'],
  });
}

/**
 * Catches the browser's navigation to a client's redirect URI (route interception: no server needed at
 * `origin`), answering a small page; returns a function giving the URL the browser was sent to.
 */
export async function catchRedirect(page: Page, origin: string): Promise<() => URL | undefined> {
  let caught: URL | undefined;
  await page.route(
    (url) => url.origin === origin,
    async (route) => {
      caught = new URL(route.request().url());
      await route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: '<title>client</title><p id="client-redirect">received</p>',
      });
    },
  );
  return () => caught;
}

/**
 * Fills fedgate's sign-in page (forms authentication: #userNameInput unless the page already names the user,
 * #passwordInput, #submitButton) in `page`, which shows it.
 */
export async function submitSignInPage(
  page: Page,
  user: { upn: string; password: string },
): Promise<void> {
  await page.waitForSelector('#passwordInput', { timeout: 15_000 }).catch(async (e: unknown) => {
    throw new Error(
      `no sign-in page; the browser is at ${page.url()}: ${(await page.textContent('body'))?.slice(0, 500) ?? ''}`,
      { cause: e },
    );
  });
  if ((await page.locator('#userNameInput').count()) > 0)
    await page.fill('#userNameInput', user.upn);
  await page.fill('#passwordInput', user.password);
  await page.click('#submitButton');
}

/**
 * A user-agent sign-in on an authorize URL: a fresh browser context opens `authorizeUrl`, signs `user` in on
 * fedgate's page, and the navigation to `redirectOrigin` is caught. Returns the redirect URL (with code/state or
 * error) and the page (its context still open: close it with page.context().close()).
 */
export async function browserAuthorize(
  site: OidcSite,
  authorizeUrl: string,
  user: { upn: string; password: string },
  redirectOrigin: string,
): Promise<{ redirect: URL; page: Page }> {
  const ctx = await (await site.browser()).newContext();
  const page = await ctx.newPage();
  // What the browser refused and why (a CSP violation, a blocked navigation) is only in its console.
  const logged: string[] = [];
  page.on('console', (m) => logged.push(m.text()));
  const caught = await catchRedirect(page, redirectOrigin);
  await page.goto(authorizeUrl);
  await submitSignInPage(page, user);
  await page.waitForSelector('#client-redirect', { timeout: 15_000 }).catch(async (e: unknown) => {
    const text = ((await page.textContent('main')) ?? '').replace(/\s+/g, ' ').trim();
    throw new Error(
      `no redirect to ${redirectOrigin}; the browser is at ${page.url()}: ${text.slice(0, 400)}; console: ${logged.join(' | ').slice(0, 1000)}`,
      { cause: e },
    );
  });
  const redirect = caught();
  assert.ok(redirect, 'the browser was sent to the redirect URI');
  return { redirect, page };
}
