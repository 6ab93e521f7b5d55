// The request side of the MFA decision (server/authn/mfa/policy.ts): WS-Fed wauth and SAML RequestedAuthnContext.
// Each "no MFA asked" case sits next to a twin that differs in one thing and asks, so a parser stuck at yes or
// at no fails.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  samlRequestReason,
  wsfedRequestReason,
  type RequestedContext,
} from '../../../../server/authn/mfa/policy.ts';

const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
const PASSWORD_WAUTH =
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';
const PPT = `${AC}PasswordProtectedTransport`;
const X509 = `${AC}X509`;

describe('WS-Fed wauth', () => {
  test('multipleauthn asks for MFA (what Entra sends), with the value as the reason', () => {
    assert.deepEqual(wsfedRequestReason(MULTIPLE_AUTHN), {
      kind: 'request',
      protocol: 'wsfed',
      requested: MULTIPLE_AUTHN,
    });
    assert.equal(
      wsfedRequestReason('https://schemas.microsoft.com/claims/multipleauthn')?.kind,
      'request',
    );
  });

  test('no wauth, password, tlsclient or an unknown value ask for nothing', () => {
    for (const w of [
      undefined,
      '',
      PASSWORD_WAUTH,
      'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient',
      'http://schemas.microsoft.com/claims/multipleauthn/extra',
      'urn:example:multipleauthn',
    ])
      assert.equal(wsfedRequestReason(w), undefined, String(w));
  });
});

describe('SAML RequestedAuthnContext', () => {
  const rac = (comparison: RequestedContext['comparison'], ...classRefs: string[]) => ({
    comparison,
    classRefs,
  });
  const asks = (r: RequestedContext | undefined, primary?: 'password' | 'certificate'): boolean =>
    samlRequestReason(r, primary) !== undefined;

  test('multipleauthn as a class reference asks for MFA; PasswordProtectedTransport does not', () => {
    assert.deepEqual(samlRequestReason(rac('exact', MULTIPLE_AUTHN)), {
      kind: 'request',
      protocol: 'saml2',
      requested: MULTIPLE_AUTHN,
    });
    assert.equal(asks(rac('exact', PPT)), false);
    assert.equal(asks(rac('minimum', MULTIPLE_AUTHN)), true);
    assert.equal(asks(rac('minimum', PPT)), false);
    assert.equal(asks(undefined), false);
  });

  test('exact with a password class among the choices: a password will do; without it: MFA', () => {
    assert.equal(asks(rac('exact', PPT, MULTIPLE_AUTHN)), false);
    assert.equal(asks(rac('exact', MULTIPLE_AUTHN, `${AC}TimeSyncToken`)), true);
  });

  test('classes stronger than a password: asked of a password sign-in, not of a certificate sign-in', () => {
    assert.equal(asks(rac('exact', X509), 'password'), true);
    assert.equal(asks(rac('exact', X509), 'certificate'), false);
    assert.equal(asks(rac('minimum', `${AC}Smartcard`), 'password'), true);
    assert.equal(asks(rac('minimum', `${AC}Smartcard`), 'certificate'), false);
    // Two-factor classes are beyond either primary method.
    for (const c of [
      MULTIPLE_AUTHN,
      `${AC}MobileTwoFactorContract`,
      `${AC}TimeSyncToken`,
      'https://refeds.org/profile/mfa',
    ]) {
      assert.equal(asks(rac('minimum', c), 'certificate'), true, c);
      assert.equal(asks(rac('maximum', c), 'certificate'), false, c);
    }
  });

  test('better: better than a password asks more of a password; better than X509 asks MFA of a certificate', () => {
    assert.equal(asks(rac('better', PPT), 'password'), true);
    assert.equal(asks(rac('better', PPT), 'certificate'), false);
    assert.equal(asks(rac('better', X509), 'certificate'), true);
    assert.equal(asks(rac('maximum', X509), 'password'), false);
  });

  test('unspecified accepts anything; unknown classes are left to the SSO endpoint (NoAuthnContext)', () => {
    assert.equal(asks(rac('exact', `${AC}unspecified`, MULTIPLE_AUTHN)), false);
    assert.equal(asks(rac('exact', MULTIPLE_AUTHN)), true);
    assert.equal(asks(rac('exact', 'urn:example:unknown')), false);
    assert.equal(asks(rac('exact', 'urn:example:unknown', MULTIPLE_AUTHN)), true);
  });
});
