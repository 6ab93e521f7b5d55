import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import request from 'supertest';
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import {
  EMAIL,
  RSA_SHA256,
  SP_ID,
  SP_KEY,
  authnRequestXml,
  b64,
  samlApp,
  signEnveloped,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// One test per defence that `npm run mutate` (tests/mutate/mutants.ts) showed no other test pinned down
// (issue 14 §3). Each case starts from a request fedgate accepts (the positive control, sent through the same
// path) and changes only what the named defence should catch, so it fails when that defence is removed.
// Corpus ids: ../shared/security-corpus.md.

const SIGNED_SP = 'https://signed-sp.fedgate.test';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

/** Signs SignedInfo again as it now stands: the SP's own key, so only the edited SignedInfo differs. */
function resignSignedInfo(xml: string): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const si = doc.getElementsByTagNameNS(DSIG, 'SignedInfo')[0];
  assert.ok(si !== undefined, 'SignedInfo');
  const canon = new ExclusiveCanonicalization().process(si, {});
  const value = createSign('sha256').update(canon).sign(SP_KEY).toString('base64');
  return xml.replace(
    /<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/,
    `<ds:SignatureValue>${value}</ds:SignatureValue>`,
  );
}

/** HTTP-Redirect query (SAML Bindings §3.4.4.1), optionally without the Signature parameter. */
function redirectQuery(xml: string, o: { omitSignature?: boolean } = {}): string {
  const q = `SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`;
  const signedPart = `${q}&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
  if (o.omitSignature === true) return signedPart;
  const sig = createSign('sha256').update(signedPart).sign(SP_KEY).toString('base64');
  return `${signedPart}&Signature=${encodeURIComponent(sig)}`;
}

describe('SAML 2.0 defences pinned one by one (mutation-tested)', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      // Signing optional: what an unsigned or half-signed message from it is turned into is the question.
      { file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
      {
        file: 'signed-sp',
        metadataXml: spMetadata(
          standardSp({
            entityId: SIGNED_SP,
            acs: [{ location: `${SIGNED_SP}/acs`, index: 0, isDefault: true }],
            authnRequestsSigned: true,
          }),
        ),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  const post = (xml: string): Promise<request.Response> =>
    request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ SAMLRequest: b64(xml) });
  const get = (query: string): Promise<request.Response> =>
    request(t.app).get(`/adfs/ls/?${query}`);

  function accepted(res: request.Response, what: string): void {
    assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 300)}`);
    assert.match(res.text, /name="AuthState"/, what);
  }
  /** Refused with a local error page; returns the internal reason logged for it. */
  function refused(res: request.Response, what: string): string {
    assert.equal(res.status, 400, `${what}: ${res.text.slice(0, 300)}`);
    assert.doesNotMatch(res.text, /name="AuthState"|SAMLResponse/, what);
    const activity = /id="activityId">([0-9a-f-]{36})</.exec(res.text)?.[1];
    assert.ok(activity !== undefined, `${what}: error page carries the activity id`);
    const line = t.logs.lines.find((l) => l.activityId === activity && l.detail !== undefined);
    return typeof line?.detail === 'string' ? line.detail : '';
  }
  const signedRequest = (): string => signEnveloped(authnRequestXml({ issuer: SIGNED_SP }));

  test('B2.16 a parameter inside the enveloped-signature transform (an XPath) is refused, even re-signed; control accepted', async () => {
    // Control: SignedInfo re-signed unchanged through the same helper is accepted.
    accepted(await post(resignSignedInfo(signedRequest())), 'control');
    const withXPath = resignSignedInfo(
      signedRequest().replace(
        /<ds:Transform Algorithm="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#enveloped-signature"\/>/,
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"><ds:XPath>not(ancestor-or-self::samlp:Extensions)</ds:XPath></ds:Transform>',
      ),
    );
    assert.match(withXPath, /<ds:XPath>/);
    assert.match(refused(await post(withXPath), 'XPath parameter'), /transform parameters refused/);
  });

  test('B2.1 a SignatureValue that does not verify is refused, the rest of the signature intact; control accepted', async () => {
    const good = signedRequest();
    accepted(await post(good), 'control');
    // Same SignedInfo, digests still right: only the signature over SignedInfo is wrong (one byte changed).
    const value = /<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/.exec(good)?.[1] ?? '';
    const bytes = Buffer.from(value, 'base64');
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    const bad = good.replace(value, bytes.toString('base64'));
    assert.match(refused(await post(bad), 'bad SignatureValue'), /does not verify/);
  });

  test('A6 a signature the verifier cannot even evaluate (no SignatureValue) is refused, not accepted; control accepted', async () => {
    const good = signedRequest();
    accepted(await post(good), 'control');
    const noValue = good.replace(/<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/, '');
    assert.match(refused(await post(noValue), 'no SignatureValue'), /does not verify/);
  });

  test('B2.12 HTTP-Redirect: SigAlg without Signature is refused, not read as an unsigned request; control accepted', async () => {
    // The SP may send unsigned requests, so a stripped signature would otherwise pass as "unsigned".
    // Each request gets a fresh ID (the replay cache would refuse a second use).
    accepted(await get(redirectQuery(authnRequestXml({ issuer: SP_ID }))), 'signed control');
    const unsigned = deflateRawSync(authnRequestXml({ issuer: SP_ID })).toString('base64');
    accepted(await get(`SAMLRequest=${encodeURIComponent(unsigned)}`), 'unsigned control');
    const detail = refused(
      await get(redirectQuery(authnRequestXml({ issuer: SP_ID }), { omitSignature: true })),
      'SigAlg alone',
    );
    assert.match(detail, /SigAlg without Signature/);
  });
});
