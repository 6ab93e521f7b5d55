/**
 * Interop: SAML 2.0 Responses issued with a key from the real key store, consumed by an independent SP
 * library (@node-saml/node-saml 5.1.0's SAML class, the HTTP-POST binding's base64 SAMLResponse) and
 * checked by xml-crypto and xmlsec1 with the certificate read back from disk; then seeded hostile models
 * through node-saml, so escaping is judged by someone else's parser.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it, mock } from 'node:test';
import { SIGNING_CERT_FILE, loadOrCreateSigningCredential } from '../../server/keys/store.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { SeededRandom } from '../../server/lib/random.ts';
import {
  AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
  CONSENT_UNSPECIFIED,
  NAMEID_FORMAT_PERSISTENT,
  writeSignedSaml2Response,
} from '../../server/tokens/saml2.ts';
import type { Saml2ResponseModel } from '../../server/tokens/types.ts';
import { fixtureCredential } from '../fixtures/tokens/credentials.ts';
import {
  ENTRA_ACS,
  ENTRA_ENTITY_ID,
  ENTRA_IDP_ISSUER,
  ENTRA_REQUEST_ID,
  ENTRA_T,
  Saml2ModelGen,
  entraSaml2Assertion,
  entraSaml2Response,
} from '../fixtures/tokens/saml2.ts';
import {
  validateWithNodeSaml,
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
} from '../helpers/verify.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedgate-saml2-interop-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  mock.timers.reset();
});

/** node-saml reads "now" from Date; freeze it. */
function freezeDate(at: Date): void {
  mock.timers.reset();
  mock.timers.enable({ apis: ['Date'], now: at });
}

function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/**
 * How node-saml 5.1.0 presents an attribute's values: one value as a scalar, several as an array, an
 * empty AttributeValue as undefined (xml2js).
 */
/**
 * node-saml builds its profile with xml2js, which drops whitespace-only text of an element that has
 * attributes or is read through `._` (Issuer, NameID, Audience): give those a visible character. The
 * writer's handling of whitespace-only values is checked against xml-crypto in tests/unit/tokens.
 */
function nodeSamlReadable(m: Saml2ResponseModel): Saml2ResponseModel {
  const a = m.assertion;
  return {
    ...m,
    assertion: {
      ...a,
      issuer: `x${a.issuer}`,
      audience: `x${a.audience}`,
      nameId: a.nameId === undefined ? undefined : { ...a.nameId, value: `x${a.nameId.value}` },
    },
  };
}

function asNodeSamlPresents(values: string[]): unknown {
  const one = (v: string): string | undefined => (v === '' ? undefined : v);
  return values.length === 1 ? one(values[0] ?? '') : values.map(one);
}

describe('SAML 2.0 Response interop', () => {
  const clock = new FixedClock('2026-03-01T08:30:00.000Z');
  const random = new SeededRandom(7);

  it('a key-store key signs an Entra SP-Lite Response that node-saml, xml-crypto and xmlsec1 accept', async () => {
    const cred = await loadOrCreateSigningCredential({
      dir: join(dir, 'keys'),
      hostname: 'sts.contoso.test',
      clock,
    });
    const certFromDisk = readFileSync(join(dir, 'keys', SIGNING_CERT_FILE), 'utf8');
    const now = clock.now();
    const requestId = `_${random.uuid()}`;
    const assertionId = `_${random.uuid()}`;
    const immutableId = 'nzZdCy48Sk2aYS9+jB0OVQ==';
    const upn = 'adele.vance@contoso.test';
    const model: Saml2ResponseModel = {
      responseId: `_${random.uuid()}`,
      issueInstant: now,
      destination: ENTRA_ACS,
      inResponseTo: requestId,
      consent: CONSENT_UNSPECIFIED,
      assertion: {
        assertionId,
        issuer: 'http://sts.contoso.test/adfs/services/trust',
        issueInstant: now,
        nameId: { value: immutableId, format: NAMEID_FORMAT_PERSISTENT },
        subjectConfirmation: {
          recipient: ENTRA_ACS,
          notOnOrAfter: new Date(now.getTime() + 5 * 60_000),
          inResponseTo: requestId,
        },
        notBefore: now,
        notOnOrAfter: new Date(now.getTime() + 60 * 60_000),
        audience: ENTRA_ENTITY_ID,
        attributes: [{ name: 'IDPEmail', values: [upn] }],
        authn: {
          instant: now,
          sessionIndex: assertionId,
          contextClassRef: AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
        },
      },
    };
    freezeDate(new Date(now.getTime() + 30_000));

    for (const signResponse of [false, true]) {
      const xml = writeSignedSaml2Response(model, cred, { signResponse });
      const profile = await validateWithNodeSaml(b64(xml), {
        certPem: certFromDisk,
        entityId: ENTRA_ENTITY_ID,
        callbackUrl: ENTRA_ACS,
        idpIssuer: model.assertion.issuer,
        wantAuthnResponseSigned: signResponse,
        outstandingRequestIds: [requestId],
      });
      assert.equal(profile.issuer, model.assertion.issuer);
      assert.equal(profile.nameID, immutableId);
      assert.equal(profile.nameIDFormat, NAMEID_FORMAT_PERSISTENT);
      assert.equal(profile.sessionIndex, assertionId);
      assert.equal(profile.inResponseTo, requestId);
      assert.deepEqual(profile.attributes, { IDPEmail: upn });

      // What node-saml does not check (Destination, Recipient) and the rest, from the verified bytes.
      const view = verifySaml2ResponseWithXmlCrypto(xml, certFromDisk, {
        responseSigned: signResponse,
      });
      assert.equal(view.destination, ENTRA_ACS);
      assert.equal(view.inResponseTo, requestId);
      assert.equal(view.consent, CONSENT_UNSPECIFIED);
      assert.equal(view.assertion.recipient, ENTRA_ACS);
      assert.equal(view.assertion.subjectInResponseTo, requestId);
      assert.equal(view.assertion.audience, 'urn:federation:MicrosoftOnline');
      assert.equal(
        view.assertion.authnContextClassRef,
        'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
      );
      const r = verifySaml2WithXmlsec1(xml, certFromDisk, 'assertion');
      assert.ok(r.ok, r.output);
      if (signResponse) {
        const rr = verifySaml2WithXmlsec1(xml, certFromDisk, 'response');
        assert.ok(rr.ok, rr.output);
      }
    }
  });

  it('node-saml refuses it for another SP, an unknown request, or once expired', async () => {
    const cred = fixtureCredential('signing');
    const xml = b64(writeSignedSaml2Response(entraSaml2Response(), cred));
    const sp = {
      certPem: cred.certificatePem,
      entityId: ENTRA_ENTITY_ID,
      callbackUrl: ENTRA_ACS,
      idpIssuer: ENTRA_IDP_ISSUER,
      wantAuthnResponseSigned: false,
      outstandingRequestIds: [ENTRA_REQUEST_ID],
    };
    freezeDate(new Date(ENTRA_T.getTime() + 1000));
    await validateWithNodeSaml(xml, sp); // control
    await assert.rejects(validateWithNodeSaml(xml, { ...sp, entityId: 'urn:other' }), /audience/);
    await assert.rejects(
      validateWithNodeSaml(xml, { ...sp, outstandingRequestIds: ['_other'] }),
      /InResponseTo is not valid/,
    );
    // Past the 5-minute bearer window (SubjectConfirmationData NotOnOrAfter), then past Conditions.
    freezeDate(new Date(ENTRA_T.getTime() + 6 * 60_000));
    await assert.rejects(validateWithNodeSaml(xml, sp), /No valid subject confirmation/);
    freezeDate(new Date(ENTRA_T.getTime() + 60 * 60_000));
    const { outstandingRequestIds: _, ...withoutRequest } = sp;
    await assert.rejects(validateWithNodeSaml(xml, withoutRequest), /expired/);
  });

  it('node-saml reads hostile seeded models exactly as written (A8, B5.1)', async () => {
    const cred = fixtureCredential('signing');
    // U+0085/U+2028 are left out here; the next test shows how node-saml reads them.
    const gen = new Saml2ModelGen(0xc0ffee, { xml11LineEnds: false });
    for (let i = 0; i < 60; i++) {
      const model = nodeSamlReadable(gen.response());
      const signResponse = i % 2 === 1;
      const context = `iteration ${String(i)}`;
      const xml = writeSignedSaml2Response(model, cred, { signResponse });
      const a = model.assertion;
      // node-saml checks the SubjectConfirmationData window only with InResponseTo; keep "now" inside
      // every window the model has.
      freezeDate(a.notBefore);
      const inResponseTo = a.subjectConfirmation.inResponseTo;
      const profile = await validateWithNodeSaml(b64(xml), {
        certPem: cred.certificatePem,
        entityId: a.audience,
        callbackUrl: a.subjectConfirmation.recipient,
        idpIssuer: a.issuer,
        wantAuthnResponseSigned: signResponse,
        ...(inResponseTo === undefined || a.subjectConfirmation.notOnOrAfter <= a.notBefore
          ? {}
          : { outstandingRequestIds: [inResponseTo] }),
      });
      assert.equal(profile.issuer, a.issuer, context);
      assert.equal(profile.nameID, a.nameId?.value, context);
      assert.equal(profile.nameIDFormat, a.nameId?.format, context);
      assert.equal(profile.inResponseTo, model.inResponseTo, context);
      assert.equal(profile.sessionIndex, a.authn.sessionIndex, context);
      const expected: Record<string, unknown> = {};
      for (const attr of a.attributes)
        if (attr.values.length > 0) expected[attr.name] = asNodeSamlPresents(attr.values);
      assert.deepEqual(profile.attributes ?? {}, expected, context);
    }
  });

  it('node-saml reads U+0085/U+2028 as LF; the signature still verifies everywhere', async () => {
    // Not fixable on our side: node-saml reads claims from the verified canonical bytes, in which exc-c14n
    // writes these characters literally (C14N 1.0 §2.3), and its @xmldom/xmldom 0.8 parse then rewrites
    // U+0085 and U+2028 into LF (XML 1.1 line ends; U+2029 is not one and survives). Conformant XML 1.0
    // consumers (.NET, libxml2) keep them. An RP on node-saml sees LF.
    const cred = fixtureCredential('signing');
    const value = 'a\u2028b\u2029c\u0085d';
    const withValue = entraSaml2Response(
      {},
      entraSaml2Assertion({ attributes: [{ name: 'display', values: [value] }] }),
    );
    const xml = writeSignedSaml2Response(withValue, cred, { signResponse: true });
    freezeDate(ENTRA_T);
    const profile = await validateWithNodeSaml(b64(xml), {
      certPem: cred.certificatePem,
      entityId: ENTRA_ENTITY_ID,
      callbackUrl: ENTRA_ACS,
      idpIssuer: ENTRA_IDP_ISSUER,
      wantAuthnResponseSigned: true,
    });
    assert.deepEqual(profile.attributes, { display: 'a\nb\u2029c\nd' });
    const view = verifySaml2ResponseWithXmlCrypto(xml, cred.certificatePem, {
      responseSigned: true,
    });
    assert.deepEqual(view.assertion.attributes[0]?.values, [value]);
    assert.ok(verifySaml2WithXmlsec1(xml, cred.certificatePem, 'response').ok);
  });
});
