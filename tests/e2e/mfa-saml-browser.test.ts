/**
 * Issue 16 end to end in headless Chromium, SAML 2.0: a service provider played by node-saml sends an AuthnRequest
 * (HTTP-Redirect, signed) whose RequestedAuthnContext names http://schemas.microsoft.com/claims/multipleauthn; fedgate
 * asks the password, then the second factor (TOTP, enrolled on the MFA page from a corporate address, codes from
 * oathtool); node-saml validates the Response the browser posts to the ACS with fedgate's pinned certificate, and
 * the AuthnContextClassRef of the validated assertion is multipleauthn. The same SP without RequestedAuthnContext
 * gets no MFA page and a password class. The user is a Samba AD account (tests/helpers/mfa.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Page } from 'playwright-core';
import { SP_CERT, SP_KEY, spMetadata, writeTrusts } from '../fixtures/saml2/harness.ts';
import {
  ensureAdUser,
  MULTIPLE_AUTHN,
  oathtool,
  startMfaSite,
  submitPassword,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';

const SP_HOST = 'sp.othersite.test';
const SP = `https://${SP_HOST}`;
const SAML2_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const PASSWORD_CLASS = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

/** The AuthnContextClassRef of an assertion node-saml validated (read from its own copy of the assertion). */
function classRefOf(assertionXml: string): string[] {
  const doc = new DOMParser().parseFromString(assertionXml, 'text/xml');
  return Array.from(doc.getElementsByTagNameNS(SAML2_NS, 'AuthnContextClassRef')).map(
    (e) => e.textContent,
  );
}

describe('MFA in Chromium: SAML 2.0 RequestedAuthnContext multipleauthn', () => {
  let site: MfaSite;
  let user: AdUser;
  let withRac: SAML;
  let withoutRac: SAML;

  before(async () => {
    const trustsDir = writeTrusts([
      {
        file: 'sp',
        metadataXml: spMetadata({
          entityId: `${SP}/saml`,
          acs: [{ location: `${SP}/acs`, index: 0, isDefault: true }],
          cert: SP_CERT,
        }),
        trust: {},
      },
    ]);
    site = await startMfaSite(
      {
        corporateNetworks: ['127.0.0.1/32'],
        saml2: { trustsDir },
        mfa: { methods: ['totp'], enrolment: { allow: ['intranet'] } },
      },
      { extraHosts: [SP_HOST] },
    );
    user = ensureAdUser(site.env, 'mfae2esaml');
    const options = {
      entryPoint: `${site.base}/adfs/ls/`,
      callbackUrl: `${SP}/acs`,
      issuer: `${SP}/saml`,
      audience: `${SP}/saml`,
      idpCert: site.t.services.signing.certificatePem,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      privateKey: SP_KEY,
      signatureAlgorithm: 'sha256' as const,
      identifierFormat: null,
      authnRequestBinding: 'HTTP-Redirect',
      validateInResponseTo: ValidateInResponseTo.never,
      acceptedClockSkewMs: 5_000,
    };
    withRac = new SAML({
      ...options,
      authnContext: [MULTIPLE_AUTHN],
      racComparison: 'exact',
    });
    withoutRac = new SAML({ ...options, disableRequestedAuthnContext: true });
  });
  after(async () => {
    await site.close();
  });

  /** A browser whose ACS posts are caught (the SP's host is routed, never reached on the network). */
  async function fresh(): Promise<{ page: Page; acs: () => string | undefined }> {
    const ctx = await site.browser.newContext();
    const page = await ctx.newPage();
    let samlResponse: string | undefined;
    await page.route(`${SP}/**`, async (route) => {
      samlResponse =
        new URLSearchParams(route.request().postData() ?? '').get('SAMLResponse') ?? undefined;
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="sp">acs</p>' });
    });
    return { page, acs: () => samlResponse };
  }

  test('without RequestedAuthnContext: no MFA page, a password class', async () => {
    const { page, acs } = await fresh();
    await page.goto(await withoutRac.getAuthorizeUrlAsync('rs', undefined, {}));
    await submitPassword(page, user);
    await page.waitForSelector('#sp');
    const { profile } = await withoutRac.validatePostResponseAsync({ SAMLResponse: acs() ?? '' });
    assert.ok(profile);
    assert.deepEqual(classRefOf(profile.getAssertionXml?.() ?? ''), [PASSWORD_CLASS]);
    assert.equal(site.t.logs.events('mfa_required').length, 0);
    await page.context().close();
  });

  test('RequestedAuthnContext multipleauthn: password, then the second factor; the class is multipleauthn', async () => {
    const { page, acs } = await fresh();
    await page.goto(await withRac.getAuthorizeUrlAsync('rs', undefined, {}));
    await submitPassword(page, user);
    await page.waitForSelector('#enrolTotpForm');
    assert.equal(acs(), undefined, 'no Response before the second factor');
    const reasons = site.t.logs.events('mfa_required').at(-1)?.reasons;
    assert.match(JSON.stringify(reasons), /saml2 request/);
    const secret = ((await page.textContent('#totpSecret')) ?? '').replace(/\s+/g, '');
    await page.fill('#enrolTotpCode', oathtool(secret, new Date()));
    await page.click('#enrolTotpSubmit');
    await page.waitForSelector('#sp');
    const { profile } = await withRac.validatePostResponseAsync({ SAMLResponse: acs() ?? '' });
    assert.ok(profile);
    assert.equal(profile.issuer, site.t.config.issuerUri);
    assert.deepEqual(classRefOf(profile.getAssertionXml?.() ?? ''), [MULTIPLE_AUTHN]);
    await page.context().close();
  });
});
