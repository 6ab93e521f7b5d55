/**
 * Negative tests for SAML 2.0 Responses (security-corpus A1, B2.3, B5.3): any change to signed content, a
 * Response re-signed with another key whose certificate is in KeyInfo, and signature wrapping must fail in
 * all three independent verifiers (xml-crypto with a pinned certificate, xmlsec1, node-saml as an SP).
 * The named fixtures are checked in so other suites (tests/security) can reuse them; this file also proves
 * they are still what their names say.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createSaml2Signer } from '../../../server/tokens/saml2.ts';
import { fixtureCredential, readFixture } from '../../fixtures/tokens/credentials.ts';
import { assertGolden } from '../../fixtures/tokens/golden.ts';
import {
  ENTRA_ACS,
  ENTRA_ENTITY_ID,
  ENTRA_IDP_ISSUER,
  ENTRA_REQUEST_ID,
  ENTRA_T,
  entraSaml2Assertion,
  entraSaml2Response,
} from '../../fixtures/tokens/saml2.ts';
import {
  validateWithNodeSaml,
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
} from '../../helpers/verify.ts';
import type { NodeSamlSp } from '../../helpers/verify.ts';

const good = fixtureCredential('signing');
const attacker = fixtureCredential('attacker');
const VALUE = 'frizzo@contoso.test';

function sp(overrides: Partial<NodeSamlSp> = {}): NodeSamlSp {
  return {
    certPem: good.certificatePem,
    entityId: ENTRA_ENTITY_ID,
    callbackUrl: ENTRA_ACS,
    idpIssuer: ENTRA_IDP_ISSUER,
    wantAuthnResponseSigned: false,
    outstandingRequestIds: [ENTRA_REQUEST_ID],
    ...overrides,
  };
}

function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

async function rejectedByAll(
  xml: string,
  context: string,
  opts: { responseSigned: boolean; nodeSaml?: Partial<NodeSamlSp> },
): Promise<void> {
  assert.throws(
    () =>
      verifySaml2ResponseWithXmlCrypto(xml, good.certificatePem, {
        responseSigned: opts.responseSigned,
      }),
    Error,
    `xml-crypto accepted: ${context}`,
  );
  const signatures: ('assertion' | 'response')[] = opts.responseSigned
    ? ['assertion', 'response']
    : ['assertion'];
  for (const which of signatures) {
    const r = verifySaml2WithXmlsec1(xml, good.certificatePem, which);
    assert.equal(r.ok, false, `xmlsec1 accepted the ${which} signature: ${context}\n${r.output}`);
  }
  await assert.rejects(
    validateWithNodeSaml(
      b64(xml),
      sp({ wantAuthnResponseSigned: opts.responseSigned, ...opts.nodeSaml }),
    ),
    /signature/i,
    `node-saml accepted: ${context}`,
  );
}

describe('signed SAML 2.0 Response fixtures', () => {
  // node-saml takes "now" from Date: freeze it a minute into the token's validity.
  beforeEach(() => {
    mock.timers.enable({ apis: ['Date'], now: new Date(ENTRA_T.getTime() + 60_000) });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  const signer = createSaml2Signer(good);
  const golden = signer.signResponse(entraSaml2Response());
  const goldenBoth = signer.signResponse(entraSaml2Response(), { signResponse: true });

  it('the golden Entra Responses are byte-stable and verify in all three verifiers', async () => {
    assertGolden('saml2-response.entra.signed.golden.xml', golden);
    assertGolden('saml2-response.entra.signed-response.golden.xml', goldenBoth);
    for (const [xml, responseSigned] of [
      [readFixture('saml2-response.entra.signed.golden.xml'), false],
      [readFixture('saml2-response.entra.signed-response.golden.xml'), true],
    ] as const) {
      const view = verifySaml2ResponseWithXmlCrypto(xml, good.certificatePem, { responseSigned });
      assert.deepEqual(view.assertion.attributes[0]?.values, [VALUE]);
      assert.ok(verifySaml2WithXmlsec1(xml, good.certificatePem, 'assertion').ok);
      if (responseSigned)
        assert.ok(verifySaml2WithXmlsec1(xml, good.certificatePem, 'response').ok);
      const profile = await validateWithNodeSaml(
        b64(xml),
        sp({ wantAuthnResponseSigned: responseSigned }),
      );
      assert.equal(profile.IDPEmail, VALUE);
    }
  });

  it('an assertion-signed-only Response is refused by an SP that wants the Response signed', async () => {
    await assert.rejects(
      validateWithNodeSaml(b64(golden), sp({ wantAuthnResponseSigned: true })),
      /Invalid document signature/,
    );
    assert.throws(
      () => verifySaml2ResponseWithXmlCrypto(golden, good.certificatePem, { responseSigned: true }),
      /ds:Signature/,
    );
  });

  it('tampering any byte of a claim value fails (xml-crypto: every byte; xmlsec1 and node-saml: a sample)', async () => {
    for (const [doc, responseSigned] of [
      [golden, false],
      [goldenBoth, true],
    ] as const) {
      const at = doc.indexOf(`<saml:AttributeValue>${VALUE}<`) + '<saml:AttributeValue>'.length;
      assert.ok(at > 100);
      for (let i = 0; i < VALUE.length; i++) {
        const c = doc.charCodeAt(at + i);
        const flipped = String.fromCharCode(c === 0x61 ? 0x62 : 0x61); // 'a' ↔ 'b', never markup
        const tampered = doc.slice(0, at + i) + flipped + doc.slice(at + i + 1);
        assert.throws(
          () => verifySaml2ResponseWithXmlCrypto(tampered, good.certificatePem, { responseSigned }),
          Error,
          `byte ${String(i)}`,
        );
        if (i % 6 === 0) await rejectedByAll(tampered, `byte ${String(i)}`, { responseSigned });
      }
    }
    const fixture = golden.replace(`>${VALUE}<`, '>admin@contoso.test<');
    assertGolden('saml2-response.entra.tampered-idpemail-value.xml', fixture);
    await rejectedByAll(
      readFixture('saml2-response.entra.tampered-idpemail-value.xml'),
      'IDPEmail',
      {
        responseSigned: false,
      },
    );
  });

  it('extending NotOnOrAfter fails (Conditions and SubjectConfirmationData)', async () => {
    const conditions = golden.replace(
      'NotOnOrAfter="2026-01-15T11:00:00.000Z"',
      'NotOnOrAfter="2027-01-15T11:00:00.000Z"',
    );
    assert.notEqual(conditions, golden);
    assertGolden('saml2-response.entra.tampered-notonorafter.xml', conditions);
    await rejectedByAll(
      readFixture('saml2-response.entra.tampered-notonorafter.xml'),
      'NotOnOrAfter',
      {
        responseSigned: false,
      },
    );
    const confirmation = goldenBoth.replace(
      'NotOnOrAfter="2026-01-15T10:05:00.000Z"',
      'NotOnOrAfter="2026-01-15T12:05:00.000Z"',
    );
    assert.notEqual(confirmation, goldenBoth);
    await rejectedByAll(confirmation, 'SubjectConfirmationData NotOnOrAfter', {
      responseSigned: true,
    });
  });

  it('retargeting the Audience to another SP fails, even at an SP whose entity ID is the new audience', async () => {
    const other = 'https://app.contoso.test/saml';
    const tampered = golden.replace(
      `<saml:Audience>${ENTRA_ENTITY_ID}</saml:Audience>`,
      `<saml:Audience>${other}</saml:Audience>`,
    );
    assert.notEqual(tampered, golden);
    assertGolden('saml2-response.entra.tampered-audience.xml', tampered);
    await rejectedByAll(readFixture('saml2-response.entra.tampered-audience.xml'), 'Audience', {
      responseSigned: false,
      nodeSaml: { entityId: other },
    });
    const both = goldenBoth.replace(
      `<saml:Audience>${ENTRA_ENTITY_ID}</saml:Audience>`,
      `<saml:Audience>${other}</saml:Audience>`,
    );
    await rejectedByAll(both, 'Audience (Response signed)', {
      responseSigned: true,
      nodeSaml: { entityId: other },
    });
  });

  it('re-signing with another key and putting its certificate in KeyInfo fails with the pinned certificate (A1)', async () => {
    const forgedModel = entraSaml2Response(
      {},
      entraSaml2Assertion({ attributes: [{ name: 'IDPEmail', values: ['ceo@contoso.test'] }] }),
    );
    const forged = createSaml2Signer(attacker).signResponse(forgedModel, { signResponse: true });
    assert.ok(forged.includes(attacker.certificateBase64));
    assertGolden('saml2-response.entra.resigned-attacker-key-attacker-keyinfo.xml', forged);
    const fixture = readFixture('saml2-response.entra.resigned-attacker-key-attacker-keyinfo.xml');
    await rejectedByAll(fixture, 'attacker key + attacker KeyInfo', { responseSigned: true });
    // An SP that checks only the assertion signature refuses it too.
    await assert.rejects(validateWithNodeSaml(b64(fixture), sp()), /signature/i);
    // Control: the forgery is otherwise well-formed (it verifies with the attacker's own certificate).
    const view = verifySaml2ResponseWithXmlCrypto(fixture, attacker.certificatePem, {
      responseSigned: true,
    });
    assert.deepEqual(view.assertion.attributes[0]?.values, ['ceo@contoso.test']);
    const profile = await validateWithNodeSaml(
      b64(fixture),
      sp({ certPem: attacker.certificatePem, wantAuthnResponseSigned: true }),
    );
    assert.equal(profile.IDPEmail, 'ceo@contoso.test');

    // Same forgery with the legitimate certificate swapped into KeyInfo: KeyInfo is not what is trusted.
    const swapped = fixture.replaceAll(attacker.certificateBase64, good.certificateBase64);
    assert.ok(!swapped.includes(attacker.certificateBase64));
    await rejectedByAll(swapped, 'attacker key + legitimate KeyInfo', { responseSigned: true });
  });

  it('an unsigned evil assertion inserted before the signed one is refused (XSW3, B2.3)', async () => {
    const start = golden.indexOf('<saml:Assertion ');
    const end = golden.indexOf('</samlp:Response>');
    const genuine = golden.slice(start, end);
    const evil = genuine
      .replace(/<ds:Signature .*<\/ds:Signature>/, '')
      .replace(/ ID="[^"]+"/, ' ID="_evil"')
      .replace(`>${VALUE}<`, '>ceo@contoso.test<');
    assert.ok(evil.includes('ceo@contoso.test') && !evil.includes('ds:Signature'));
    const wrapped = golden.slice(0, start) + evil + genuine + golden.slice(end);
    assertGolden('saml2-response.entra.xsw3-evil-assertion-first.xml', wrapped);
    const fixture = readFixture('saml2-response.entra.xsw3-evil-assertion-first.xml');
    await assert.rejects(validateWithNodeSaml(b64(fixture), sp()), /multiple assertions/);
    assert.throws(
      () => verifySaml2ResponseWithXmlCrypto(fixture, good.certificatePem),
      /exactly one saml:Assertion/,
    );
    // The genuine signature is still cryptographically valid: refusing XSW is the consumer's structural
    // check, not the signature's (xmlsec1 alone accepts this document).
    assert.ok(verifySaml2WithXmlsec1(fixture, good.certificatePem, 'assertion').ok);
  });
});
