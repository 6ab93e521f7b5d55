import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import {
  verifyAuthentication,
  verifyRegistration,
  webAuthnSettings,
  type WebAuthnSettings,
} from '../../server/authn/mfa/webauthn.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from '../helpers/browser.ts';
import {
  addVirtualAuthenticator,
  repoRoot,
  runCeremony,
  runCeremonyExpectingError,
  WebAuthnHarness,
  type User,
} from '../helpers/webauthn.ts';

// The WebAuthn second factor end to end in real Chromium: its virtual authenticator (CDP WebAuthn domain, CTAP2)
// makes and uses real credentials, views/theme/webauthn.js runs them under `script-src 'self'`, and what the
// browser posts goes to server/authn/mfa/webauthn.ts through a small HTTPS relying party (tests/helpers/webauthn.ts).
// Each negative changes one thing the verifier must catch — the counter of a cloned key, the RP ID, the origin,
// the authenticator model, user verification — next to a positive control that differs only there.

const HOST = 'login.fedgate.test';
/** A parent domain of HOST: a page on HOST may scope a credential to it (WebAuthn §5.1.2), fedgate must not take it. */
const PARENT = 'fedgate.test';
/** Another site altogether. */
const OTHER = 'mfa.othersite.test';
/** A host below fedgate's: it may use fedgate's RP ID (§5.1.2), so only the origin tells its ceremonies apart. */
const SUB = 'intranet.login.fedgate.test';
/** The AAGUID Chromium's virtual authenticator attests (measured: it is in the attested credential data). */
const VIRTUAL_AAGUID = '01020304-0506-0708-0102-030405060708';
const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';

describe('WebAuthn in Chromium with a virtual authenticator', () => {
  let browser: Browser;
  let harness: WebAuthnHarness;
  let user: User;
  let dir: string;
  let origin: string;
  /** fedgate's settings, from the configuration as the server will read them. */
  let st: WebAuthnSettings;
  const contexts: BrowserContext[] = [];

  function settings(webauthn: NonNullable<ConfigInput['mfa']>['webauthn'] = {}): WebAuthnSettings {
    return webAuthnSettings(
      resolveConfig(
        { hostname: HOST, publicUrl: origin, displayName: 'fedgate test', mfa: { webauthn } },
        { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
      ),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedgate-webauthn-'));
    const tls = siteCertificate(dir, [HOST, PARENT, OTHER, SUB]);
    // A display name that needs escaping in the data-options attribute.
    user = {
      id: Buffer.from('086ffe47984f4734bd0db90223cff0b0', 'hex'),
      name: 'alice@fedgate.test',
      displayName: `Alice "A" <O'Brien> & co`,
      factors: [],
    };
    harness = new WebAuthnHarness(user, repoRoot(import.meta.url));
    await harness.start(tls);
    origin = `https://${HOST}:${harness.port}`;
    st = settings();
    browser = await launchChromium([mapHostsToLoopback([HOST, PARENT, OTHER, SUB]), tls.spkiFlag]);
  });
  after(async () => {
    await browser.close();
    await harness.stop();
  });
  beforeEach(async () => {
    user.factors.length = 0;
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  /** A fresh browser context with the WebAuthn domain on; console errors (a CSP violation among them) are kept. */
  async function fresh(): Promise<{ page: Page; cdp: CDPSession; errors: string[] }> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    return { page, cdp, errors };
  }

  test('a security key enrols, then signs in with an increasing counter; a used response and a second enrolment of the same key are refused', async () => {
    assert.deepEqual(
      st,
      {
        rpId: HOST,
        rpName: 'fedgate test',
        origin,
        userVerification: 'preferred',
        attestation: 'none',
        allowedAaguids: [],
        timeoutSeconds: 120,
      },
      'settings from the configuration defaults',
    );
    const { page, cdp, errors } = await fresh();
    const authenticatorId = await addVirtualAuthenticator(cdp, { transport: 'usb' });

    const reg = await harness.prepare('create', st);
    const enrolled = await runCeremony(page, origin, reg.ceremony);
    assert.ok(enrolled.ok, JSON.stringify(enrolled));
    assert.equal(user.factors.length, 1);
    const factor = user.factors[0]!;
    assert.deepEqual(factor.transports, ['usb']);
    assert.equal(factor.userVerified, true);
    assert.equal(factor.aaguid, undefined, 'attestation none: the browser zeroes the AAGUID');
    const [stored] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    assert.equal(
      Buffer.from(stored!.credentialId, 'base64').toString('base64url'),
      factor.credentialId,
      'the credential the authenticator holds is the one enrolled',
    );

    let last = factor.counter;
    for (let i = 0; i < 2; i++) {
      const get = await harness.prepare('get', st);
      const r = await runCeremony(page, origin, get.ceremony);
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok('factorId' in r && r.factorId === factor.id);
      assert.ok(factor.counter > last, `counter ${factor.counter} above ${last}`);
      last = factor.counter;
    }

    // The last assertion, posted again for a new ceremony: its challenge is not the new one.
    const lastGet = [...harness.ceremonies.values()].filter((c) => c.mode === 'get').at(-1)!;
    const next = await harness.prepare('get', st);
    const replay = await verifyAuthentication(
      st,
      JSON.parse(lastGet.posted!),
      next.ceremony.challenge,
      user.factors,
    );
    assert.equal(!replay.ok && replay.reason, 'challenge');

    // The same key again: the browser refuses it (excludeCredentials), and the script says so in plain words.
    const again = await harness.prepare('create', st);
    const message = await runCeremonyExpectingError(page, origin, again.ceremony);
    assert.match(message, /already registered/);
    assert.equal(again.ceremony.posted, undefined);
    // A client that ignores excludeCredentials: the enrolment response posted once more is a duplicate.
    const dup = await verifyRegistration(
      st,
      JSON.parse(reg.ceremony.posted!),
      reg.ceremony.challenge,
      user.factors,
    );
    assert.equal(!dup.ok && dup.reason, 'duplicate');
    assert.deepEqual(errors, [], 'no script or CSP errors in the console');
  });

  test('a cloned key (the credential copied to a second authenticator) is refused for its counter once the original has been used', async () => {
    const { page, cdp } = await fresh();
    const original = await addVirtualAuthenticator(cdp, { transport: 'usb' });
    const reg = await harness.prepare('create', st);
    assert.ok((await runCeremony(page, origin, reg.ceremony)).ok);
    const factor = user.factors[0]!;
    const { credentials } = await cdp.send('WebAuthn.getCredentials', {
      authenticatorId: original,
    });
    assert.equal(credentials.length, 1);
    const copied = credentials[0]!;
    assert.ok(copied.privateKey.length > 0, 'the private key is exported');

    // The owner keeps using the original: the stored counter moves past the copy's.
    const use = await harness.prepare('get', st);
    assert.ok((await runCeremony(page, origin, use.ceremony)).ok);
    assert.ok(factor.counter > copied.signCount, `${factor.counter} > ${copied.signCount}`);
    const counterBefore = factor.counter;

    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: original });
    const clone = await addVirtualAuthenticator(cdp, { transport: 'usb' });
    await cdp.send('WebAuthn.addCredential', { authenticatorId: clone, credential: copied });
    const get = await harness.prepare('get', st);
    const r = await runCeremony(page, origin, get.ceremony);
    assert.deepEqual(
      { ok: r.ok, reason: !r.ok && r.reason, factorId: 'factorId' in r && r.factorId },
      { ok: false, reason: 'counter', factorId: factor.id },
      JSON.stringify(r),
    );
    assert.equal(
      factor.counter,
      counterBefore,
      'a refused assertion does not move the stored counter',
    );

    // Control: the same copied key with a counter above the stored one verifies (the signature is good; only the
    // counter gave the clone away, which is all a counter can do, WebAuthn §6.1.1).
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: clone });
    const ahead = await addVirtualAuthenticator(cdp, { transport: 'usb' });
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId: ahead,
      credential: { ...copied, signCount: counterBefore + 10 },
    });
    const control = await harness.prepare('get', st);
    const ok = await runCeremony(page, origin, control.ceremony);
    assert.ok(ok.ok, JSON.stringify(ok));
  });

  test('a credential scoped to another RP ID is refused, at enrolment and at sign-in, though the origin is right', async () => {
    const { page, cdp } = await fresh();
    await addVirtualAuthenticator(cdp);
    const parent: WebAuthnSettings = { ...st, rpId: PARENT };

    // The page on fedgate's origin asks for the parent domain (the browser allows it: §5.1.2); fedgate is HOST.
    const reg = await harness.prepare('create', parent, st);
    const r = await runCeremony(page, origin, reg.ceremony);
    assert.equal(!r.ok && r.reason, 'rp-id', JSON.stringify(r));
    assert.equal(user.factors.length, 0);

    // Control: the same ceremony verified for the parent RP ID is accepted, and stored.
    const ok = await runCeremony(page, origin, (await harness.prepare('create', parent)).ceremony);
    assert.ok(ok.ok, JSON.stringify(ok));
    const factor = user.factors[0]!;

    // Sign-in with that credential (a known one), posted to fedgate's verifier: refused for its RP ID.
    const get = await harness.prepare('get', parent, st);
    const g = await runCeremony(page, origin, get.ceremony);
    assert.deepEqual(
      { reason: !g.ok && g.reason, factorId: 'factorId' in g && g.factorId },
      {
        reason: 'rp-id',
        factorId: factor.id,
      },
    );
    const control = await runCeremony(
      page,
      origin,
      (await harness.prepare('get', parent)).ceremony,
    );
    assert.ok(control.ok, JSON.stringify(control));
  });

  test('a credential made on another site (another host name and RP ID) is refused', async () => {
    const { page, cdp } = await fresh();
    await addVirtualAuthenticator(cdp);
    const otherOrigin = `https://${OTHER}:${harness.port}`;
    const other: WebAuthnSettings = { ...st, rpId: OTHER, origin: otherOrigin };

    // Enrolment run on the other site, posted to fedgate's verifier.
    const reg = await harness.prepare('create', other, st);
    const r = await runCeremony(page, otherOrigin, reg.ceremony);
    assert.equal(!r.ok && r.reason, 'origin', JSON.stringify(r));
    assert.equal(user.factors.length, 0);

    // Control: that site's own verifier accepts it; then its sign-in, posted to fedgate's verifier, is refused.
    assert.ok(
      (await runCeremony(page, otherOrigin, (await harness.prepare('create', other)).ceremony)).ok,
    );
    const get = await harness.prepare('get', other, st);
    const g = await runCeremony(page, otherOrigin, get.ceremony);
    assert.equal(!g.ok && g.reason, 'origin', JSON.stringify(g));
    const control = await runCeremony(
      page,
      otherOrigin,
      (await harness.prepare('get', other)).ceremony,
    );
    assert.ok(control.ok, JSON.stringify(control));
  });

  test('a ceremony run on a host below fedgate’s, with fedgate’s own RP ID, is refused for its origin', async () => {
    const { page, cdp } = await fresh();
    await addVirtualAuthenticator(cdp);
    const subOrigin = `https://${SUB}:${harness.port}`;

    // Enrolment: the page on the other host asks for fedgate's RP ID, which the browser allows.
    const reg = await harness.prepare('create', st);
    const r = await runCeremony(page, subOrigin, reg.ceremony);
    assert.equal(!r.ok && r.reason, 'origin', JSON.stringify(r));
    assert.equal(user.factors.length, 0);

    // Control: on fedgate's origin the same authenticator enrols; its sign-in on the other host is refused, and on
    // fedgate's accepted.
    assert.ok((await runCeremony(page, origin, (await harness.prepare('create', st)).ceremony)).ok);
    const g = await runCeremony(page, subOrigin, (await harness.prepare('get', st)).ceremony);
    assert.equal(!g.ok && g.reason, 'origin', JSON.stringify(g));
    const control = await runCeremony(page, origin, (await harness.prepare('get', st)).ceremony);
    assert.ok(control.ok, JSON.stringify(control));
  });

  test('attestation direct: a model outside the AAGUID allow-list is refused, the listed one enrols', async () => {
    const { page, cdp } = await fresh();
    await addVirtualAuthenticator(cdp);

    const unlisted = settings({
      attestation: 'direct',
      allowedAaguids: ['cb69481e-8ff7-4039-93ec-0a2729a154a8'],
    });
    const r = await runCeremony(page, origin, (await harness.prepare('create', unlisted)).ceremony);
    assert.deepEqual(r, { ok: false, reason: 'aaguid', detail: VIRTUAL_AAGUID });

    // Attestation none with an allow-list: the browser zeroes the AAGUID, so no model can be shown and none enrols.
    const none = settings({ attestation: 'none', allowedAaguids: [VIRTUAL_AAGUID] });
    const n = await runCeremony(page, origin, (await harness.prepare('create', none)).ceremony);
    assert.equal(!n.ok && n.reason, 'aaguid', JSON.stringify(n));
    assert.equal(user.factors.length, 0);

    // Control: the same authenticator with its model listed (upper case in the configuration) enrols.
    const listed = settings({
      attestation: 'direct',
      allowedAaguids: ['cb69481e-8ff7-4039-93ec-0a2729a154a8', VIRTUAL_AAGUID.toUpperCase()],
    });
    const ok = await runCeremony(page, origin, (await harness.prepare('create', listed)).ceremony);
    assert.ok(ok.ok && 'credential' in ok, JSON.stringify(ok));
    assert.equal(ok.credential.aaguid, VIRTUAL_AAGUID);
    assert.notEqual(ok.credential.aaguid, ZERO_AAGUID);
  });

  test('user verification required: an authenticator without it is refused; the browser refuses it up front', async () => {
    const { page, cdp } = await fresh();
    const noUv = await addVirtualAuthenticator(cdp, {
      hasUserVerification: false,
      isUserVerified: false,
    });
    const required = settings({ userVerification: 'required' });

    // A client that asks with `preferred` (the options are not signed): the response carries UV=0.
    const reg = await harness.prepare('create', st, required);
    const r = await runCeremony(page, origin, reg.ceremony);
    assert.equal(!r.ok && r.reason, 'user-verification', JSON.stringify(r));

    // Control: the same authenticator where verification is only preferred enrols.
    const ok = await runCeremony(page, origin, (await harness.prepare('create', st)).ceremony);
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(user.factors[0]!.userVerified, false);

    // Sign-in without user verification where it is required: refused, though the signature is good (control).
    const g = await runCeremony(
      page,
      origin,
      (await harness.prepare('get', st, required)).ceremony,
    );
    assert.equal(!g.ok && g.reason, 'user-verification', JSON.stringify(g));
    const control = await runCeremony(page, origin, (await harness.prepare('get', st)).ceremony);
    assert.ok(control.ok, JSON.stringify(control));

    // With honest options the browser itself refuses: nothing is posted, the page says so and lets the user retry.
    const honest = await harness.prepare('create', required);
    const message = await runCeremonyExpectingError(page, origin, honest.ceremony);
    assert.match(message, /not used/);
    assert.equal(honest.ceremony.posted, undefined);
    assert.equal(await page.locator('#webauthnButton').isEnabled(), true, 'the button works again');
    // The user fetches a key that can verify them and presses the button again: same page, same challenge.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: noUv });
    await addVirtualAuthenticator(cdp, { hasUserVerification: true, isUserVerified: true });
    await page.click('#webauthnButton');
    await page.waitForSelector('#result', { state: 'attached' });
    assert.ok(honest.ceremony.result?.ok, JSON.stringify(honest.ceremony.result));
    assert.equal(user.factors.at(-1)!.userVerified, true);
  });
});
