// Claims of a verified second factor (issue 16 "Claims", "Entra ID integration"; corpus B5.4): a token issued in an
// SSO session whose record says a second factor was verified carries authnmethodsreferences = the primary method,
// each method's URI and multipleauthn, and multifactorauthenticationinstant; a session without it carries neither.
// The shipped Microsoft 365 rule set passes both through. The session is made directly through SessionManager (the
// MFA step of the sign-in pipeline is the lead's); the token comes from the real SSO path of /adfs/ls/ and is
// checked with xmlsec1 and xml-crypto against the certificate from our metadata, never with fedgate's code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { MfaDone } from '../../server/authn/session.ts';
import type { DirectoryUser } from '../../server/directory/types.ts';
import { SSO_COOKIE } from '../../server/http/cookies.ts';
import { formAction, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';
import { AMR, M365, MFA_INSTANT, MULTIPLE_AUTHN } from '../helpers/mfa.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';

const PASSWORD = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
const TLSCLIENT = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient';
const OTP = 'http://schemas.microsoft.com/ws/2012/12/authmethod/otp';
const FIDO = 'http://schemas.microsoft.com/ws/2012/12/authmethod/fido';
/** What Entra reads from a WS-Fed token of the Microsoft 365 rules (entra-protocol.md §1.6, §6). */
const ENTRA_ATTRIBUTES = [
  'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  'http://schemas.xmlsoap.org/claims/UPN',
  AMR,
  'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork',
];

let t: TestApp;
let cert: string;
let alice: DirectoryUser;
before(async () => {
  t = await makeTestApp();
  const a = await t.services.directory.findUser('alice');
  assert.ok(a);
  alice = a;
  cert = certFromMetadata(
    (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
  )[0]!;
});
after(() => t.close());

/** A token for Microsoft 365 issued in an SSO session with this authentication record. */
async function tokenIn(o: {
  authMethod?: string;
  mfa?: MfaDone | undefined;
}): Promise<Saml11Claims & { authenticationMethod: string | null }> {
  const authInstant = new Date(Date.now() - 60_000).toISOString();
  const session = await t.services.sessions.create({
    objectGuid: alice.objectGuid.toString('base64'),
    windowsAccountName: alice.windowsAccountName,
    userPrincipalName: alice.userPrincipalName,
    authMethod: o.authMethod ?? PASSWORD,
    authInstant,
    ...(o.mfa === undefined ? {} : { mfa: o.mfa }),
  });
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365 });
  const res = await request(t.app)
    .get(`/adfs/ls/?${q.toString()}`)
    .set('Cookie', `${SSO_COOKIE}=${session.id}`);
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.equal(formAction(res.text), 'https://login.microsoftonline.com/login.srf');
  const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  const claims = verifySaml11WithXmlCrypto(assertion, cert);
  const method = /AuthenticationMethod="([^"]*)"/.exec(assertion);
  return { ...claims, authenticationMethod: method?.[1] ?? null };
}

describe('Microsoft 365 tokens and MFA claims (corpus B5.4)', () => {
  test('a session with a verified TOTP: authnmethodsreferences password, otp, multipleauthn; the MFA instant', async () => {
    const instant = '2026-12-06T01:02:03.456Z';
    const c = await tokenIn({ mfa: { methods: ['totp'], instant } });
    assert.deepEqual(c.attributes[AMR], [PASSWORD, OTP, MULTIPLE_AUTHN]);
    assert.deepEqual(c.attributes[MFA_INSTANT], [instant]);
    assert.deepEqual(
      Object.keys(c.attributes).sort(),
      [...ENTRA_ATTRIBUTES, MFA_INSTANT].sort(),
      'the Entra-shaped token gains exactly the MFA instant',
    );
    assert.equal(c.audience, M365);
    // The SAML 1.1 AuthenticationMethod stays the primary method's (Entra reads MFA from authnmethodsreferences).
    assert.equal(c.authenticationMethod, 'urn:oasis:names:tc:SAML:1.0:am:password');
  });

  test('twin without MFA in the session: authnmethodsreferences is the password alone, no MFA instant', async () => {
    const c = await tokenIn({});
    assert.deepEqual(c.attributes[AMR], [PASSWORD]);
    assert.equal(c.attributes[MFA_INSTANT], undefined);
    assert.equal(
      Object.values(c.attributes).some((v) => v.includes(MULTIPLE_AUTHN)),
      false,
      'multipleauthn appears nowhere',
    );
    assert.deepEqual(Object.keys(c.attributes).sort(), [...ENTRA_ATTRIBUTES].sort());
  });

  test('WebAuthn and RADIUS: each method URI once (RADIUS is a one-time code: otp)', async () => {
    const instant = '2026-12-06T01:05:00.000Z';
    const c = await tokenIn({ mfa: { methods: ['webauthn', 'radius', 'totp'], instant } });
    assert.deepEqual(c.attributes[AMR], [PASSWORD, FIDO, OTP, MULTIPLE_AUTHN]);
    assert.deepEqual(c.attributes[MFA_INSTANT], [instant]);
  });

  test('a certificate primary keeps tlsclient first; a session record that names no method claims no MFA', async () => {
    const instant = '2026-12-06T01:06:00.000Z';
    const c = await tokenIn({ authMethod: TLSCLIENT, mfa: { methods: ['webauthn'], instant } });
    assert.deepEqual(c.attributes[AMR], [TLSCLIENT, FIDO, MULTIPLE_AUTHN]);
    const none = await tokenIn({ mfa: { methods: [], instant } });
    assert.deepEqual(none.attributes[AMR], [PASSWORD]);
    assert.equal(none.attributes[MFA_INSTANT], undefined);
  });
});
