/**
 * Issue 16 end to end in headless Chromium: the Microsoft 365 trust's access-control policy "MFA from the extranet"
 * (microsoft365.mfa.accessControlPolicies [{kind: extranet}]) decided on the client address Chromium really
 * connects from (127.0.0.1). Two fedgate instances over the same Samba AD account differ only in
 * corporateNetworks: where it does not hold the client, the sign-in gets the MFA page (the user enrols a TOTP
 * factor with a helpdesk enrolment code and the token says multipleauthn); where it does, there is no MFA page, the
 * token says insidecorporatenetwork true and claims no second factor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueEnrolmentCode } from '../../server/authn/mfa/enrolments.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { cryptoRandom } from '../../server/lib/random.ts';
import {
  ensureAdUser,
  newEntraPage,
  entraSignInUrl,
  oathtool,
  saysMfa,
  startMfaSite,
  submitPassword,
  verifyPosted,
  type AdUser,
  type MfaSite,
} from '../helpers/mfa.ts';
import { sambaEnv } from '../helpers/samba.ts';

const INSIDE = 'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork';

function siteWith(corporateNetworks: string[], clock: FixedClock): Promise<MfaSite> {
  return startMfaSite(
    {
      corporateNetworks,
      microsoft365: { mfa: { accessControlPolicies: [{ kind: 'extranet' }] } },
      mfa: { methods: ['totp'], enrolment: { allow: ['code'] } },
    },
    { clock },
  );
}

describe('MFA in Chromium: a policy requiring MFA from the extranet, not from a corporate network', () => {
  const clock = new FixedClock(Math.floor(Date.now() / 30_000) * 30_000);
  let outside: MfaSite;
  let inside: MfaSite;
  let user: AdUser;

  before(async () => {
    user = ensureAdUser(sambaEnv(), 'mfae2epolicy');
    // The client (127.0.0.1) is outside 10.0.0.0/8 and 192.168.0.0/16, inside 127.0.0.1/32.
    outside = await siteWith(['10.0.0.0/8', '192.168.0.0/16'], clock);
    inside = await siteWith(['127.0.0.1/32'], clock);
  });
  after(async () => {
    await outside.close();
    await inside.close();
  });

  test('from outside the corporate networks: the MFA page; a helpdesk code enrols TOTP and the token says multipleauthn', async () => {
    const directoryUser = await outside.t.services.directory.findUser(user.sAMAccountName);
    const store = outside.t.services.mfa.enrolments;
    assert.ok(directoryUser && store);
    let code = '';
    await store.update(directoryUser, (e) => {
      const r = issueEnrolmentCode(e, { clock, random: cryptoRandom, lifetimeHours: 1 });
      code = r.code;
      return r.enrolments;
    });
    const { page, posted } = await newEntraPage(outside);
    await page.goto(entraSignInUrl(outside.base, user.upn));
    await submitPassword(page, user);
    await page.waitForSelector('#enrolCodeForm');
    const required = outside.t.logs.events('mfa_required').at(-1);
    assert.match(JSON.stringify(required?.reasons), /extranet/);
    await page.fill('#enrolmentCode', code);
    await page.click('#enrolCodeSubmit');
    await page.waitForSelector('#enrolTotpForm');
    const secret = ((await page.textContent('#totpSecret')) ?? '').replace(/\s+/g, '');
    await page.fill('#enrolTotpCode', oathtool(secret, clock.now()));
    await page.click('#enrolTotpSubmit');
    await page.waitForSelector('#entra');
    const claims = verifyPosted(posted(), outside.t.services.signing.certificatePem);
    assert.ok(saysMfa(claims));
    assert.deepEqual(claims.attributes[INSIDE], ['false']);
    assert.equal(outside.t.logs.events('mfa_enrolment').at(-1)?.route, 'code');
    await page.context().close();
  });

  test('from a corporate network: no MFA page, insidecorporatenetwork true, no second factor claimed', async () => {
    const { page, posted } = await newEntraPage(inside);
    await page.goto(entraSignInUrl(inside.base, user.upn));
    await submitPassword(page, user);
    await page.waitForSelector('#entra');
    const claims = verifyPosted(posted(), inside.t.services.signing.certificatePem);
    assert.equal(saysMfa(claims), false);
    assert.deepEqual(claims.attributes[INSIDE], ['true']);
    assert.equal(inside.t.logs.events('mfa_required').length, 0);
    await page.context().close();
  });
});
