/**
 * Negative tests (security-corpus A1, B5.3): any change to signed content, and a document re-signed with
 * another key whose certificate is placed in KeyInfo, must fail in both independent verifiers when they
 * pin the real certificate. The named fixtures are checked in so other suites (tests/security) can reuse
 * them; this file also proves they are still what their names say.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSaml11Signer } from '../../../server/tokens/saml11.ts';
import { entraModel, fixtureCredential, readFixture } from '../../fixtures/tokens/credentials.ts';
import { assertGolden } from '../../fixtures/tokens/golden.ts';
import {
  SAML11_ID_ATTR,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../../helpers/verify.ts';

const good = fixtureCredential('signing');
const attacker = fixtureCredential('attacker');

function rejectedByBoth(xml: string, certPem: string, context: string): void {
  assert.throws(
    () => verifySaml11WithXmlCrypto(xml, certPem),
    Error,
    `xml-crypto accepted: ${context}`,
  );
  const r = verifyWithXmlsec1(xml, certPem, SAML11_ID_ATTR);
  assert.equal(r.ok, false, `xmlsec1 accepted: ${context}\n${r.output}`);
}

describe('signed SAML 1.1 fixtures', () => {
  const golden = createSaml11Signer(good).sign(entraModel());

  it('the golden Entra token is byte-stable and verifies in both verifiers', () => {
    assertGolden('saml11-assertion.entra.signed.golden.xml', golden);
    const claims = verifySaml11WithXmlCrypto(golden, good.certificatePem);
    assert.equal(
      claims.attributes['http://schemas.xmlsoap.org/claims/UPN']?.[0],
      'frizzo@contoso.test',
    );
    assert.ok(verifyWithXmlsec1(golden, good.certificatePem, SAML11_ID_ATTR).ok);
  });

  it('tampering any byte of a claim value fails (xml-crypto: every byte; xmlsec1: a sample)', () => {
    const value = 'frizzo@contoso.test';
    const at = golden.indexOf(`<saml:AttributeValue>${value}<`) + '<saml:AttributeValue>'.length;
    assert.ok(at > 100);
    for (let i = 0; i < value.length; i++) {
      const c = golden.charCodeAt(at + i);
      const flipped = String.fromCharCode(c === 0x61 ? 0x62 : 0x61); // 'a' ↔ 'b', never a markup character
      const tampered = golden.slice(0, at + i) + flipped + golden.slice(at + i + 1);
      assert.throws(
        () => verifySaml11WithXmlCrypto(tampered, good.certificatePem),
        Error,
        `byte ${String(i)}`,
      );
      if (i % 6 === 0)
        assert.equal(verifyWithXmlsec1(tampered, good.certificatePem, SAML11_ID_ATTR).ok, false);
    }
    const fixture = golden.replace(`>${value}<`, '>admin@contoso.test<');
    assertGolden('saml11-assertion.entra.tampered-upn-value.xml', fixture);
    rejectedByBoth(
      readFixture('saml11-assertion.entra.tampered-upn-value.xml'),
      good.certificatePem,
      'tampered UPN',
    );
  });

  it('extending NotOnOrAfter fails', () => {
    const tampered = golden.replace(
      'NotOnOrAfter="2026-01-15T11:00:00.000Z"',
      'NotOnOrAfter="2027-01-15T11:00:00.000Z"',
    );
    assert.notEqual(tampered, golden);
    assertGolden('saml11-assertion.entra.tampered-notonorafter.xml', tampered);
    rejectedByBoth(
      readFixture('saml11-assertion.entra.tampered-notonorafter.xml'),
      good.certificatePem,
      'NotOnOrAfter',
    );
  });

  it('re-signing with another key and putting its certificate in KeyInfo fails with the pinned certificate (A1)', () => {
    const forged = createSaml11Signer(attacker).sign(
      entraModel({
        attributes: [
          {
            name: 'UPN',
            namespace: 'http://schemas.xmlsoap.org/claims',
            values: ['ceo@contoso.test'],
          },
        ],
      }),
    );
    assert.ok(forged.includes(attacker.certificateBase64));
    assertGolden('saml11-assertion.entra.resigned-attacker-key-attacker-keyinfo.xml', forged);
    const fixture = readFixture(
      'saml11-assertion.entra.resigned-attacker-key-attacker-keyinfo.xml',
    );
    rejectedByBoth(fixture, good.certificatePem, 'attacker key + attacker KeyInfo');
    // Control: the forgery is otherwise a well-formed signed token (it verifies with the attacker's cert).
    assert.equal(
      verifySaml11WithXmlCrypto(fixture, attacker.certificatePem).attributes[
        'http://schemas.xmlsoap.org/claims/UPN'
      ]?.[0],
      'ceo@contoso.test',
    );

    // Same forgery with the legitimate certificate swapped into KeyInfo: KeyInfo is not what is trusted.
    const swapped = fixture.replace(attacker.certificateBase64, good.certificateBase64);
    rejectedByBoth(swapped, good.certificatePem, 'attacker key + legitimate KeyInfo');
  });

  it('a second, unsigned assertion next to the signed one is refused (XSW, A7/A13)', () => {
    const unsigned = golden
      .replace(/<ds:Signature .*<\/ds:Signature>/, '')
      .replace('frizzo@', 'evil@')
      .replace(/AssertionID="[^"]+"/, 'AssertionID="_evil"');
    const wrapped = `<t:RequestedSecurityToken xmlns:t="urn:x">${unsigned}${golden}</t:RequestedSecurityToken>`;
    assert.throws(
      () => verifySaml11WithXmlCrypto(wrapped, good.certificatePem),
      /exactly one saml:Assertion/,
    );
  });
});
