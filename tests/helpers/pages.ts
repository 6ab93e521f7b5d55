/**
 * Every page a person sees in fedgate, and how a browser reaches each one (issue 17 "Accessibility" and
 * "Pictures"): the accessibility tests (tests/e2e/a11y-browser.test.ts), the screenshots (tests/screenshots/run.ts)
 * and their comparison test all go through here, so a new page is added once.
 *
 * The site is fedgate over real TLS at a real host name for headless Chromium (as tests/helpers/mfa.ts does), on
 * the embedded demo directory, with a frozen clock and re-seedable randomness: the same page in the same language
 * shows the same activity id, times, TOTP secret and token thumbprint on every run (the token-signing key is the
 * committed TEST ONLY fixture key), so screenshots can be compared pixel by pixel.
 *
 * Reaching a page uses the page as a person would (goto, fill, click); the keyboard-only test does its own typing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { createApp } from '../../server/app.ts';
import { issueEnrolmentCode } from '../../server/authn/mfa/enrolments.ts';
import type { Factor } from '../../server/authn/mfa/factors.ts';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { SeededRandom, type Random } from '../../server/lib/random.ts';
import { buildServices, type Services } from '../../server/services.ts';
import { spMetadata, standardSp, writeTrusts } from '../fixtures/saml2/harness.ts';
import { LogCapture } from './app.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from './browser.ts';
import { oathtool } from './mfa.ts';
import { freePort, waitUntil } from './net.ts';

/**
 * page.goto, tried once more when Chromium aborts it with ERR_NETWORK_CHANGED: Chromium cancels navigations in flight
 * when the machine's network interfaces change, and the suite's container test adds and removes podman's (CI, issue
 * 22). Only that error is retried, and only once; every page these tests reach is a GET that can be repeated.
 */
async function goto(page: Page, url: string): Promise<void> {
  try {
    await page.goto(url);
  } catch (err) {
    if (!String(err).includes('net::ERR_NETWORK_CHANGED')) throw err;
    await page.goto(url);
  }
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pages, in the order the screenshots and reports list them. */
export const PAGE_NAMES = [
  'signin',
  'signin-error',
  'update-password',
  'password-updated',
  'mfa-code',
  'mfa-choice',
  'mfa-enrol-code',
  'mfa-enrol',
  'portal',
  'error',
  'signed-out',
  'idp-initiated',
  'form-post',
  'token-test',
] as const;
export type PageName = (typeof PAGE_NAMES)[number];

/** What each page is, for reports and the README. */
export const PAGE_TITLES: Record<PageName, string> = {
  signin: 'Sign-in',
  'signin-error': 'Sign-in after a wrong password',
  'update-password': "Update password, refused by the directory's password policy",
  'password-updated': 'Password updated',
  'mfa-code': 'Second factor: code from an authenticator app',
  'mfa-choice': 'Second factor: choice of method (two apps and a security key)',
  'mfa-enrol-code': 'Second factor: enrolment code from the help desk',
  'mfa-enrol': 'Second factor: setting up an authenticator app',
  portal: 'Security info (the user’s own verification methods)',
  error: 'Error page (unknown application), with the activity id',
  'signed-out': 'Signed out',
  'idp-initiated': 'IdP-initiated sign-on: the list of applications',
  'form-post': 'Signing in: the page that posts the token to the application',
  'token-test': 'Token test page',
};

/**
 * The languages fedgate ships, read from the catalogues present (views/locales/<lang>.json), English first; English
 * alone while no catalogue exists yet (the pages are English then).
 */
export function shippedLanguages(): string[] {
  const dir = join(REPO_ROOT, 'views', 'locales');
  const found = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\.json$/.test(f))
        .map((f) => f.slice(0, -'.json'.length))
    : [];
  const rest = found.filter((l) => l !== 'en').sort();
  return ['en', ...rest];
}

/** The frozen time every page is rendered at. */
export const PAGES_TIME = Date.UTC(2026, 11, 7, 9, 30, 0);
const HOST = 'login.fedgate.test';
const PASSWORD = 'Passw0rd!';
const MFA_SECRET = 'fedgate-pages-mfa-secret-0123456789abcdefghij';
/** TOTP secrets of the demo users' enrolled apps (fixed, so a code can be computed with oathtool). */
const GRACE_APP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const ALICE_APP = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF';

/**
 * Randomness that can be re-seeded from a label: reaching a page re-seeds from the page, language and theme, so
 * the ids it shows do not depend on which pages were reached before it (SeededRandom is xorshift, test-only).
 */
export class LabelledRandom implements Random {
  #inner = new SeededRandom(1);
  reseed(label: string): void {
    let h = 2166136261;
    for (const c of label) h = Math.imul(h ^ (c.codePointAt(0) ?? 0), 16777619) >>> 0;
    this.#inner = new SeededRandom(h || 1);
  }
  bytes(n: number): Buffer {
    return this.#inner.bytes(n);
  }
  token(): string {
    return this.#inner.token();
  }
  uuid(): string {
    return this.#inner.uuid();
  }
}

export interface PagesSite {
  base: string;
  browser: Browser;
  services: Services;
  app: Express;
  logs: LogCapture;
  clock: FixedClock;
  random: LabelledRandom;
  /** A browser context for one variant: language (Accept-Language), viewport and scale, forced colours. */
  newContext(opts: VariantOptions): Promise<BrowserContext>;
  /**
   * Brings `page` to `name` (cookies of its context cleared first, so every page starts from a browser that has not
   * signed in), re-seeding the randomness from `label` when given. Resolves when the page has loaded.
   */
  reach(page: Page, name: PageName, label?: string): Promise<void>;
  close(): Promise<void>;
}

export interface VariantOptions {
  lang: string;
  viewport?: { width: number; height: number };
  deviceScaleFactor?: number;
  forcedColors?: boolean;
}

export interface PagesSiteOptions {
  /** Extra configuration (e.g. the branding section for the example theme). */
  config?: ConfigInput;
  /** Chromium to use (one browser shared by several sites); launched here when absent. */
  browser?: Browser;
}

/** The configuration of the example theme in docs/examples/contoso-theme (the branding section). */
export function contosoBranding(): ConfigInput {
  return {
    branding: {
      themesDir: join(REPO_ROOT, 'docs', 'examples'),
      theme: 'contoso-theme',
      webContent: {
        companyName: 'Contoso',
        homeLink: 'https://www.contoso.example/',
        homeLinkText: 'Contoso home',
        privacyLink: 'https://www.contoso.example/privacy',
        privacyLinkText: 'Privacy',
        helpDeskLink: 'https://help.contoso.example/',
        helpDeskLinkText: 'Help desk',
        signInPageDescriptionText: 'Use your Contoso account, the one you sign in to your PC with.',
        locales: {},
      },
      // AD FS 2019's paginated sign-in (user name first) and "Keep me signed in", so their pages are covered too.
      signIn: { paginated: true, keepMeSignedIn: true },
    },
  };
}

/** Launches Chromium for the page sites (fedgate's host name mapped to loopback, its certificate trusted). */
export async function launchPagesBrowser(spkiFlag: string): Promise<Browser> {
  return launchChromium([mapHostsToLoopback([HOST]), spkiFlag]);
}

/** The TLS certificate all page sites of one process share (one browser trusts exactly this key). */
let sharedTls: ReturnType<typeof siteCertificate> | undefined;
export function pagesTls(): ReturnType<typeof siteCertificate> {
  sharedTls ??= siteCertificate(mkdtempSync(join(tmpdir(), 'fedgate-pages-tls-')), [HOST]);
  return sharedTls;
}

export async function startPagesSite(opts: PagesSiteOptions = {}): Promise<PagesSite> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-pages-'));
  const tls = pagesTls();
  const port = await freePort();
  const base = `https://${HOST}:${String(port)}`;

  // The committed TEST ONLY signing key (tests/fixtures/tokens), so the token page's thumbprint is the same on
  // every run; the key store refuses a key file others can read, so it is copied with mode 0600.
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const fixtureKeys = join(REPO_ROOT, 'tests', 'fixtures', 'tokens');
  copyFileSync(join(fixtureKeys, 'test-only.signing.crt.pem'), join(keysDir, 'signing.crt.pem'));
  copyFileSync(join(fixtureKeys, 'test-only.signing.key.pem'), join(keysDir, 'signing.key.pem'));
  chmodSync(join(keysDir, 'signing.key.pem'), 0o600);

  const trustsDir = writeTrusts([
    {
      file: 'hr',
      metadataXml: spMetadata(standardSp()),
      trust: { name: 'Contoso HR', idpInitiated: true },
    },
  ]);

  const clock = new FixedClock(PAGES_TIME);
  const random = new LabelledRandom();
  const config = resolveConfig(
    {
      hostname: HOST,
      publicUrl: base,
      listen: { port: 0, tls: 'off' },
      keys: {
        dir: keysDir,
        signing: {
          cert: join(keysDir, 'signing.crt.pem'),
          key: join(keysDir, 'signing.key.pem'),
        },
      },
      testRelyingParty: true,
      log: { level: 'info' },
      microsoft365: { federatedDomains: ['fedgate.test'] },
      saml2: { trustsDir, idpInitiatedSignOn: true },
      mfa: {
        methods: ['totp', 'webauthn'],
        secrets: [MFA_SECRET],
        enrolment: { allow: ['code'] },
      },
      // The pages are reached many times from one address (every language and variant): the per-source and
      // per-account limits would otherwise refuse the later visits. They are tested elsewhere.
      lockout: { enabled: false },
      passwordChange: { maxAttemptsPerSource: 10_000 },
      ...opts.config,
    },
    { env: {}, baseDir: dir, source: 'pages', embeddedDefaults: false },
  );
  const logs = new LogCapture();
  const services = await buildServices(config, { logDestination: logs, clock, random });
  const app = createApp(services);
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, app);
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  const ownBrowser = opts.browser === undefined;
  const browser = opts.browser ?? (await launchPagesBrowser(tls.spkiFlag));

  // Setup only: the users' enrolled factors, as an earlier enrolment would have left them.
  const store = services.mfa.enrolments;
  assert.ok(store, 'the MFA enrolment store');
  const enrolments = store;
  const user = async (name: string) => {
    const u = await services.directory.findUser(name);
    assert.ok(u, `demo user ${name}`);
    return u;
  };
  const added = new Date(PAGES_TIME - 40 * 86_400_000).toISOString();
  const key = (n: number): string => Buffer.alloc(32, n).toString('base64url');
  const graceFactors: Factor[] = [
    {
      kind: 'totp',
      id: 'pagesGracePhone000001',
      name: 'Phone',
      createdAt: added,
      secret: GRACE_APP,
    },
    {
      kind: 'totp',
      id: 'pagesGraceTablet00001',
      name: 'Tablet',
      createdAt: added,
      secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
    },
    {
      kind: 'webauthn',
      id: 'pagesGraceKey00000001',
      name: 'YubiKey',
      createdAt: added,
      credentialId: key(1),
      publicKey: key(2),
      counter: 0,
    },
  ];
  await enrolments.write(await user('grace'), { v: 1, factors: graceFactors });
  await enrolments.write(await user('alice'), {
    v: 1,
    factors: [
      {
        kind: 'totp',
        id: 'pagesAlicePhone000001',
        name: 'Phone',
        createdAt: added,
        secret: ALICE_APP,
      },
    ],
  });

  // bob's password changes on the password-updated page; this is what it is now.
  let bobPassword = PASSWORD;
  let bobChanges = 0;
  // bob's flows change what the directory holds for him (password, enrolment code): one at a time, so variants can
  // be checked concurrently.
  let bobQueue: Promise<unknown> = Promise.resolve();
  const asBob = <T>(f: () => Promise<T>): Promise<T> => {
    const run = bobQueue.then(f, f);
    bobQueue = run.catch(() => undefined);
    return run;
  };
  type Cookies = Awaited<ReturnType<BrowserContext['cookies']>>;
  // The portal's signed-in browser state (cookies), made once: signing in again with the same TOTP code at the
  // frozen time would be refused as a replay.
  let portalCookies: Promise<Cookies> | undefined;

  const signInUrl = (realm: string, extra: Record<string, string> = {}): string =>
    `${base}/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm, ...extra }).toString()}`;
  const TEST_RP = 'urn:fedgate:test';
  const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';

  /** Fills the sign-in page: both fields at once, or (paginated sign-in) the user name first, then Next. */
  async function enterCredentials(page: Page, username: string, password: string): Promise<void> {
    await page.fill('#userNameInput', username);
    if ((await page.locator('#nextButton').count()) > 0)
      await Promise.all([page.waitForEvent('load'), page.click('#nextButton')]);
    await page.fill('#passwordInput', password);
  }

  async function submitPassword(page: Page, username: string, password: string): Promise<void> {
    await enterCredentials(page, username, password);
    await Promise.all([page.waitForEvent('load'), page.click('#submitButton')]);
  }

  function portalCookiesOnce(): Promise<Cookies> {
    portalCookies ??= portalSignIn();
    return portalCookies;
  }
  async function portalSignIn(): Promise<Cookies> {
    const ctx = await browser.newContext({ locale: 'en-GB' });
    const p = await ctx.newPage();
    await p.goto(`${base}/adfs/portal/`);
    await submitPassword(p, 'grace@fedgate.test', PASSWORD);
    await p.waitForSelector('#totpForm');
    if ((await p.locator('#totpFactor').count()) > 0)
      await p.selectOption('#totpFactor', 'pagesGracePhone000001');
    await p.fill('#totpCode', oathtool(GRACE_APP, clock.now()));
    await Promise.all([p.waitForURL('**/adfs/portal/**'), p.click('#totpSubmit')]);
    await p.waitForSelector('#factorList');
    const cookies = await ctx.cookies();
    await ctx.close();
    return cookies;
  }

  async function reach(page: Page, name: PageName, label?: string): Promise<void> {
    const ctx = page.context();
    await ctx.clearCookies();
    clock.set(PAGES_TIME);
    if (name === 'portal') {
      // Made before re-seeding, so the portal page's own randomness does not depend on whether it was made now.
      await ctx.addCookies(await portalCookiesOnce());
    }
    if (label !== undefined) random.reseed(label);
    switch (name) {
      case 'signin':
        await goto(page, signInUrl(TEST_RP));
        break;
      case 'signin-error':
        await goto(page, signInUrl(TEST_RP));
        await submitPassword(page, 'alice@fedgate.test', 'not the password');
        await page.waitForSelector('#errorText');
        break;
      case 'update-password':
        // erin must change her password; the directory's policy refuses a short one and the page says why.
        await goto(page, signInUrl(TEST_RP));
        await submitPassword(page, 'erin@fedgate.test', PASSWORD);
        await page.waitForSelector('#updatePasswordForm');
        await page.fill('#oldPasswordInput', PASSWORD);
        await page.fill('#newPasswordInput', 'short1');
        await page.fill('#confirmNewPasswordInput', 'short1');
        await Promise.all([page.waitForEvent('load'), page.click('#submitButton')]);
        await page.waitForSelector('#errorText');
        break;
      case 'password-updated':
        await asBob(async () => {
          bobChanges += 1;
          const next = `Updated-${String(bobChanges)}-Passw0rd`;
          await goto(page, `${base}/adfs/portal/updatepassword/`);
          await page.fill('#userNameInput', 'bob@fedgate.test');
          await page.fill('#oldPasswordInput', bobPassword);
          await page.fill('#newPasswordInput', next);
          await page.fill('#confirmNewPasswordInput', next);
          await Promise.all([page.waitForEvent('load'), page.click('#submitButton')]);
          await page.waitForSelector('#passwordUpdated');
          bobPassword = next;
        });
        break;
      case 'mfa-code':
        await goto(page, signInUrl(TEST_RP, { wauth: MULTIPLE_AUTHN }));
        await submitPassword(page, 'alice@fedgate.test', PASSWORD);
        await page.waitForSelector('#totpForm');
        break;
      case 'mfa-choice':
        await goto(page, signInUrl(TEST_RP, { wauth: MULTIPLE_AUTHN }));
        await submitPassword(page, 'grace@fedgate.test', PASSWORD);
        await page.waitForSelector('#totpFactor');
        break;
      case 'mfa-enrol-code':
      case 'mfa-enrol':
        await asBob(async () => {
          // bob has no factor; the help desk gave him a one-time enrolment code (fedgate mfa enrol-code).
          const bob = await user('bob');
          let code = '';
          await enrolments.update(bob, (e) => {
            const r = issueEnrolmentCode(e, { clock, random, lifetimeHours: 72 });
            code = r.code;
            return r.enrolments;
          });
          await goto(page, signInUrl(TEST_RP, { wauth: MULTIPLE_AUTHN }));
          await submitPassword(page, 'bob@fedgate.test', bobPassword);
          await page.waitForSelector('#enrolCodeForm');
          if (name === 'mfa-enrol') {
            await page.fill('#enrolmentCode', code);
            await Promise.all([page.waitForEvent('load'), page.click('#enrolCodeSubmit')]);
            await page.waitForSelector('#enrolTotpForm');
          }
        });
        break;
      case 'portal':
        await goto(page, `${base}/adfs/portal/`);
        await page.waitForSelector('#factorList');
        break;
      case 'error':
        await goto(page, signInUrl('urn:contoso:unknown-app'));
        await page.waitForSelector('#activityId');
        break;
      case 'signed-out':
        await goto(page, `${base}/adfs/ls/?wa=wsignout1.0`);
        break;
      case 'idp-initiated':
        await goto(page, `${base}/adfs/ls/idpinitiatedsignon`);
        await page.waitForSelector('#idpSites');
        break;
      case 'form-post': {
        // The page that carries the token to the application posts itself at once; the post is stopped here so the
        // page stays as a person sees it while the browser posts (answered by the browser itself with 204 No Content,
        // which leaves the current page in place).
        const reply = '**/adfs/test/result';
        let posted = false;
        await page.route(reply, async (r) => {
          await r.fulfill({ status: 204 });
          posted = true;
        });
        try {
          await goto(page, signInUrl(TEST_RP));
          await enterCredentials(page, 'alice@fedgate.test', PASSWORD);
          // The page's own post cancels its load event, so this waits for the post instead.
          await page.click('#submitButton', { noWaitAfter: true });
          await waitUntil('the token page posted', () => posted);
          await page.waitForSelector('#working');
        } finally {
          await page.unroute(reply);
        }
        break;
      }
      case 'token-test':
        await goto(page, signInUrl(TEST_RP));
        await submitPassword(page, 'alice@fedgate.test', PASSWORD);
        await page.waitForURL('**/adfs/test/result');
        await page.waitForSelector('#result');
        break;
    }
    // Web fonts: none are used, but wait for the page's fonts and images all the same before anyone looks.
    await page.evaluate(() => document.fonts.ready.then(() => undefined));
  }

  async function newContext(v: VariantOptions): Promise<BrowserContext> {
    const o: BrowserContextOptions = {
      locale: v.lang,
      viewport: v.viewport ?? { width: 1280, height: 800 },
      deviceScaleFactor: v.deviceScaleFactor ?? 1,
      forcedColors: v.forcedColors === true ? 'active' : 'none',
      reducedMotion: 'reduce',
      colorScheme: 'light',
      timezoneId: 'UTC',
    };
    const ctx = await browser.newContext(o);
    // The browser's own favicon probe would reach the server at a moment of its choosing and take an activity id
    // from the seeded sequence; answered here instead, it never does.
    await ctx.route('**/favicon.ico', (r) => r.fulfill({ status: 404, body: '' }));
    return ctx;
  }

  return {
    base,
    browser,
    services,
    app,
    logs,
    clock,
    random,
    newContext,
    reach,
    close: async () => {
      if (ownBrowser) await browser.close();
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      await services.close();
    },
  };
}
