// SAML 2.0 assertions of a sign-in with a verified second factor name AD FS's multipleauthn class in
// AuthnContextClassRef, the only MFA signal Entra ID reads from a SAML 2.0 token (adfs-reference.md §2 [MFAIN]);
// every other assertion keeps the primary method's class (corpus B5.4). The issuance mapper (tokens/saml2-model.ts
// toSaml2Model) with the real writer; the class is read back by xml-crypto with the pinned certificate and the
// signature checked by xmlsec1.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClaimTypes } from '../../../server/claims/types.ts';
import { toSaml2Model } from '../../../server/tokens/saml2-model.ts';
import { writeSignedSaml2Assertion } from '../../../server/tokens/saml2.ts';
import { TrustRegistry } from '../../../server/trust/registry.ts';
import { fixtureCredential } from '../../fixtures/tokens/credentials.ts';
import { verifySaml2AssertionWithXmlCrypto, verifySaml2WithXmlsec1 } from '../../helpers/verify.ts';

const cred = fixtureCredential('signing');
const M365 = new TrustRegistry([]).find('urn:federation:MicrosoftOnline');
const PASSWORD = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
const TLSCLIENT = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient';

function classRef(authMethod: string, mfa: boolean | undefined): string {
  assert.ok(M365);
  const now = new Date('2026-12-06T02:00:00.000Z');
  const model = toSaml2Model({
    rp: M365,
    claims: [
      { type: ClaimTypes.immutableId, value: 'R2uO2Kf0Ck6pgqpC7Hqd0g==' },
      { type: ClaimTypes.upn, value: 'alice@fedgate.test' },
    ],
    assertionId: '_a2f0c1d2-mfa',
    issuer: 'http://sts.fedgate.test/adfs/services/trust',
    acs: 'https://login.microsoftonline.com/login.srf',
    now,
    authMethod,
    authInstant: new Date(now.getTime() - 30_000),
    sessionIndex: '_s1',
    mfa,
  });
  const xml = writeSignedSaml2Assertion(model, cred);
  assert.ok(verifySaml2WithXmlsec1(xml, cred.certificatePem, 'assertion').ok);
  return verifySaml2AssertionWithXmlCrypto(xml, cred.certificatePem).authnContextClassRef;
}

describe('AuthnContextClassRef and MFA', () => {
  test('a password sign-in with a verified second factor: multipleauthn', () => {
    assert.equal(classRef(PASSWORD, true), 'http://schemas.microsoft.com/claims/multipleauthn');
  });
  test('twin without it: PasswordProtectedTransport (absent or false)', () => {
    const ppt = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
    assert.equal(classRef(PASSWORD, undefined), ppt);
    assert.equal(classRef(PASSWORD, false), ppt);
  });
  test('a certificate sign-in: X509, or multipleauthn with a second factor', () => {
    assert.equal(classRef(TLSCLIENT, false), 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509');
    assert.equal(classRef(TLSCLIENT, true), 'http://schemas.microsoft.com/claims/multipleauthn');
  });
});
