import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import request from 'supertest';
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { stringify } from 'yaml';
import {
  ATTACKER_KEY,
  EMAIL,
  ENVELOPED,
  EXC_C14N,
  IDP_SSO,
  SP_CERT,
  SP_KEY,
  authnRequestXml,
  b64,
  postAndSignIn,
  postedSaml,
  samlApp,
  signEnveloped,
  spMetadata,
  standardSp,
  uid,
  assertRequestAccepted,
  refusalDetail,
} from '../fixtures/saml2/harness.ts';

// Security corpus A2, A3, A5, A6, A12–A14, B2.1–B2.11, B2.16, B2.17 applied to what fedgate itself verifies,
// through its own entry points: SP-signed AuthnRequest and LogoutRequest on /adfs/ls/ (HTTP-POST enveloped
// signature, server/lib/xml-signature.ts), the HTTP-Redirect query signature (protocols/saml2/bindings.ts) and
// signed partner metadata (trust/saml-trusts.ts with a pinned certificate).
//
// Rule for every case (issue 14 §3): the attack changes ONLY what the signature protects. The attacker's goal
// is the SP's second *registered* ACS (index 1): a request fedgate accepts when the SP signs it (registered ACS,
// our Destination, fresh IssueInstant, new ID, known Issuer). Each case starts with that positive control.
//
// The XSW catalogue (SAML Raider XSWHelpers) is written for a Response (XSW1/2: message signature) and an
// Assertion inside it (XSW3–8). fedgate's inbound signed objects are root-signed messages, so XSW1/2 apply as
// written and XSW3–8 apply with "the signed request" in the role of the Assertion: the genuine signed request
// is placed where the corpus places the genuine Assertion, the evil one where it places the evil copy.

const SIGNED_SP = 'https://signed-sp.fedgate.test';
const ACS0 = `${SIGNED_SP}/acs`;
const ACS1 = `${SIGNED_SP}/acs/second`;
const SLO = `${SIGNED_SP}/slo`;
const honest = { issuer: SIGNED_SP, acsIndex: 0 };
const goal = { issuer: SIGNED_SP, acsIndex: 1 };
const SIG_RE = /<ds:Signature[\s\S]*<\/ds:Signature>/;
const sigOf = (signed: string): string => SIG_RE.exec(signed)![0];
const idOf = (xml: string): string => / ID="([^"]+)"/.exec(xml)![1]!;
/** The signed message without its signature: the "clean copy" of the XSW catalogue. */
const cleanCopy = (signed: string): string => signed.replace(sigOf(signed), '');

/** Signs SignedInfo again as it now stands (for fixtures whose SignedInfo text is legitimately different). */
function resignSignedInfo(xml: string): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const si = doc.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'SignedInfo')[0]!;
  const canon = new ExclusiveCanonicalization().process(si, {});
  const value = createSign('sha256').update(canon).sign(SP_KEY).toString('base64');
  return xml.replace(
    /<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/,
    `<ds:SignatureValue>${value}</ds:SignatureValue>`,
  );
}

describe('signature corpus against fedgate inbound verification', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      {
        file: 'signed-sp',
        metadataXml: spMetadata(
          standardSp({
            entityId: SIGNED_SP,
            acs: [
              { location: ACS0, index: 0, isDefault: true },
              { location: ACS1, index: 1 },
            ],
            slo: [{ location: SLO, binding: 'redirect' }],
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

  const accepted = assertRequestAccepted;
  const refused = (res: request.Response, what = 'attack'): string =>
    refusalDetail(res, t.logs, what);
  /** Positive control: the attacker's request, signed by the SP itself, is accepted. */
  async function control(): Promise<void> {
    accepted(await post(signEnveloped(authnRequestXml(goal))));
  }

  // XSW family --------------------------------------------------------------------------------------------
  test('B2.1 XSW1: evil root (new ID), clean copy of the signed request appended inside ds:Signature', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const sig = sigOf(good);
    const evil = authnRequestXml(goal).replace(
      '</saml:Issuer>',
      `</saml:Issuer>${sig.replace('</ds:Signature>', `${cleanCopy(good)}</ds:Signature>`)}`,
    );
    assert.match(refused(await post(evil)), /does not reference the signed element/);
  });

  test('B2.2 XSW2: evil root (new ID), clean copy as the preceding sibling of ds:Signature', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = authnRequestXml(goal).replace(
      '</saml:Issuer>',
      `</saml:Issuer>${cleanCopy(good)}${sigOf(good)}`,
    );
    assert.match(refused(await post(evil)), /does not reference the signed element/);
  });

  test('B2.3 XSW3: unsigned evil request (new ID) first, the genuine signed request after it', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = authnRequestXml({
      ...goal,
      extra: `<samlp:Extensions>${good}</samlp:Extensions>`,
    });
    assert.match(refused(await post(evil)), /exactly one signature, on its root/);
  });

  test('B2.4 XSW4: the genuine signed request moved inside the evil one', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = authnRequestXml(goal).replace('<saml:Issuer>', `${good}<saml:Issuer>`);
    assert.match(refused(await post(evil)), /exactly one signature, on its root/);
  });

  test('B2.5 XSW5: signed root edited (keeps its Signature, ID changed), clean copy with the original ID appended', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = good
      .replace(/ ID="[^"]+"/, ` ID="${uid()}"`)
      .replace('AssertionConsumerServiceIndex="0"', 'AssertionConsumerServiceIndex="1"')
      .replace(
        '</samlp:AuthnRequest>',
        `<samlp:Extensions>${cleanCopy(good)}</samlp:Extensions></samlp:AuthnRequest>`,
      );
    assert.match(refused(await post(evil)), /does not reference the signed element/);
  });

  test('B2.6 XSW6: as XSW5, the clean copy placed inside the original ds:Signature', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const sig = sigOf(good);
    const evil = good
      .replace(sig, sig.replace('</ds:Signature>', `${cleanCopy(good)}</ds:Signature>`))
      .replace(/ ID="[^"]+"/, ` ID="${uid()}"`)
      .replace('AssertionConsumerServiceIndex="0"', 'AssertionConsumerServiceIndex="1"');
    assert.match(refused(await post(evil)), /does not reference the signed element/);
  });

  test('B2.7 XSW7: Extensions holding an unsigned copy with the same ID, signed root edited', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = good
      .replace('AssertionConsumerServiceIndex="0"', 'AssertionConsumerServiceIndex="1"')
      .replace(
        '</saml:Issuer>',
        `</saml:Issuer><samlp:Extensions>${cleanCopy(good)}</samlp:Extensions>`,
      );
    assert.match(refused(await post(evil)), /signed ID appears more than once/);
  });

  test('B2.8 XSW8: clean copy (same ID) in a new ds:Object inside the Signature, signed root edited', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const sig = sigOf(good);
    const evil = good
      .replace(
        sig,
        sig.replace('</ds:Signature>', `<ds:Object>${cleanCopy(good)}</ds:Object></ds:Signature>`),
      )
      .replace('AssertionConsumerServiceIndex="0"', 'AssertionConsumerServiceIndex="1"');
    assert.match(refused(await post(evil)), /signed ID appears more than once/);
  });

  test('A5 duplicate IDs: an unsigned element elsewhere carrying the signed ID (content unchanged) → refused by our own rule', async () => {
    const good = signEnveloped(authnRequestXml(goal));
    accepted(await post(signEnveloped(authnRequestXml(goal))));
    // The duplicate sits inside ds:Signature, outside the digest: only the duplicate-ID rule can refuse it.
    const sig = sigOf(good);
    const dup = good.replace(
      sig,
      sig.replace(
        '</ds:Signature>',
        `<ds:Object><x:Decoy xmlns:x="urn:decoy" ID="${idOf(good)}"/></ds:Object></ds:Signature>`,
      ),
    );
    assert.equal(refused(await post(dup)), 'the signed ID appears more than once');
    // Reference URI with a quote (XPath injection in old xml-crypto) never reaches a lookup.
    const quoted = good.replace(`URI="#${idOf(good)}"`, `URI="#${idOf(good)}' or '1'='1"`);
    assert.match(refused(await post(quoted)), /does not reference the signed element/);
  });

  test('B2.10 (inbound form) a second complete signed request inside a signed one → refused', async () => {
    // B2.10 proper (several Assertions in one Response, Assertion in Advice) applies to an SP consuming
    // Responses; fedgate consumes no assertions. The inbound analogue is two signed messages in one.
    await control();
    const inner = signEnveloped(authnRequestXml(honest));
    const outer = signEnveloped(
      authnRequestXml({ ...goal, extra: `<samlp:Extensions>${inner}</samlp:Extensions>` }),
    );
    assert.match(refused(await post(outer)), /exactly one signature, on its root/);
  });

  test('B2.11 the Reference must cover the element that holds the Signature (a child signed instead → refused)', async () => {
    await control();
    const child = `<samlp:Extensions><x:Blob xmlns:x="urn:blob" ID="${uid()}">anything</x:Blob></samlp:Extensions>`;
    const childSigned = signEnveloped(authnRequestXml({ ...goal, extra: child }), SP_KEY, {
      reference: "//*[local-name()='Blob']",
    });
    assert.match(refused(await post(childSigned)), /does not reference the signed element/);
    // Control: the same request signed over its root is accepted (Extensions are ignored).
    accepted(await post(signEnveloped(authnRequestXml({ ...goal, extra: child }))));
    // Two References (root and child) → refused.
    const good = signEnveloped(authnRequestXml(goal));
    const ref = /<ds:Reference[\s\S]*<\/ds:Reference>/.exec(good)![0];
    const twoRefs = good.replace(ref, ref + ref);
    assert.match(refused(await post(twoRefs)), /exactly one Reference/);
    // URI="" (whole document) is not the form SAML Core §5.4.2 requires → refused.
    const empty = good.replace(`URI="#${idOf(good)}"`, 'URI=""');
    assert.match(refused(await post(empty)), /does not reference the signed element/);
  });

  // xml-crypto regressions --------------------------------------------------------------------------------
  test('A2 comment in DigestValue carrying the digest of tampered content → refused', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const tampered = good.replace(
      'AssertionConsumerServiceIndex="0"',
      'AssertionConsumerServiceIndex="1"',
    );
    // The digest the tampered content really has, put in a comment in front of the signed digest text.
    const evilDigest = /<ds:DigestValue>([^<]+)</.exec(signEnveloped(cleanCopy(tampered)))![1]!;
    const attack = tampered.replace('<ds:DigestValue>', `<ds:DigestValue><!--${evilDigest}-->`);
    assert.match(refused(await post(attack)), /does not verify/);
  });

  test('A3 two SignedInfo, or a decoy SignedInfo wrapped in an unknown element → refused / ignored', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(goal));
    const si = /<ds:SignedInfo>[\s\S]*<\/ds:SignedInfo>/.exec(good)![0];
    assert.match(
      refused(await post(good.replace(si, si + si))),
      /expected exactly one SignedInfo in Signature/,
    );
    // Decoy SignedInfo (digest of tampered content) wrapped in an unknown element: never used.
    const honestSigned = signEnveloped(authnRequestXml(honest));
    const tampered = honestSigned.replace(
      'AssertionConsumerServiceIndex="0"',
      'AssertionConsumerServiceIndex="1"',
    );
    const decoy = /<ds:SignedInfo>[\s\S]*<\/ds:SignedInfo>/.exec(
      signEnveloped(cleanCopy(tampered)),
    )![0];
    const wrapped = tampered.replace(
      '<ds:SignedInfo>',
      `<x:Wrapper xmlns:x="urn:w">${decoy}</x:Wrapper><ds:SignedInfo>`,
    );
    assert.match(refused(await post(wrapped)), /does not verify/);
  });

  test('A6 a fresh verifier per attempt: a refused forgery between two good requests leaves no state behind', async () => {
    // R1 (ACS 0) signs in and posts to ACS 0.
    const r1 = await postAndSignIn(t.app, {
      SAMLRequest: b64(signEnveloped(authnRequestXml(honest))),
    });
    assert.equal(postedSaml(r1.res.text).action, ACS0);
    // A forgery whose digests match but whose SignatureValue is the attacker's: xml-crypto throws after the
    // references were digested (the xml-crypto #575 shape).
    const forged = signEnveloped(authnRequestXml(goal), ATTACKER_KEY);
    assert.match(refused(await post(forged)), /does not verify/);
    // R3 (ACS 1) is verified on its own: its fields, not R1's (no signed references carried over).
    const r3 = await postAndSignIn(t.app, {
      SAMLRequest: b64(signEnveloped(authnRequestXml(goal))),
    });
    assert.equal(postedSaml(r3.res.text).action, ACS1);
  });

  test('A12 a second root after (or before) the signed request → refused', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(honest));
    const evil = authnRequestXml(goal);
    refused(await post(good + evil));
    refused(await post(evil + good));
  });

  test('A13 fields come from the verified bytes: a signed request whose received form differs outside the signed bytes is read as signed', async () => {
    // An unsigned NameIDPolicy asking for another format, hidden inside ds:Signature (outside the signed bytes):
    // it must not change what is read. (With the Reference pinned to the root, the received document and the
    // signed bytes differ only there and in comments; the XSW cases above cover the rest of A13.)
    const good = signEnveloped(authnRequestXml({ ...goal, nameIdFormat: EMAIL }));
    const sig = sigOf(good);
    const hidden = good.replace(
      sig,
      sig.replace(
        '</ds:Signature>',
        '<ds:Object><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></ds:Object></ds:Signature>',
      ),
    );
    const { res } = await postAndSignIn(t.app, { SAMLRequest: b64(hidden) });
    const posted = postedSaml(res.text);
    assert.equal(posted.action, ACS1);
    const xml = Buffer.from(posted.SAMLResponse!, 'base64').toString('utf8');
    assert.match(xml, /status:Success/, 'the signed NameIDPolicy (email) was used');
  });

  test('A14 more than two transforms (all of allowed kinds) → refused; two → accepted', async () => {
    await control();
    const many = signEnveloped(authnRequestXml(goal), SP_KEY, {
      transforms: [ENVELOPED, EXC_C14N, EXC_C14N],
    });
    assert.match(refused(await post(many)), /too many transforms/);
    const c14n11 = signEnveloped(authnRequestXml(goal), SP_KEY, {
      transforms: [ENVELOPED, 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315'],
    });
    assert.match(refused(await post(c14n11)), /transform .* refused/);
  });

  test('B2.16 DigestValue: whitespace inside still verifies; a comment or a second DigestValue → refused', async () => {
    const good = signEnveloped(authnRequestXml(goal));
    const dv = /<ds:DigestValue>([^<]+)<\/ds:DigestValue>/.exec(good)![1]!;
    // Whitespace (line breaks, as xmlsec writes base64) inside the signed DigestValue: still the same digest.
    const spaced = resignSignedInfo(
      good.replace(
        `<ds:DigestValue>${dv}</ds:DigestValue>`,
        `<ds:DigestValue>\n  ${dv.slice(0, 20)}\n  ${dv.slice(20)}\n</ds:DigestValue>`,
      ),
    );
    assert.notEqual(spaced, good);
    accepted(await post(spaced), 'whitespace in DigestValue');
    const two = good.replace(
      `<ds:DigestValue>${dv}</ds:DigestValue>`,
      `<ds:DigestValue>${dv}</ds:DigestValue><ds:DigestValue>${dv}</ds:DigestValue>`,
    );
    assert.equal(refused(await post(two)), 'expected exactly one DigestValue');
    const commented = signEnveloped(authnRequestXml(goal)).replace(
      '<ds:DigestValue>',
      '<ds:DigestValue><!---->',
    );
    accepted(await post(commented), 'an empty comment changes nothing signed');
  });

  test('B2.17 namespace tricks: ds prefix bound elsewhere is no signature; default-namespace Signature and remapped prefixes verify', async () => {
    await control();
    const good = signEnveloped(authnRequestXml(goal));
    // ds bound to another namespace: not a signature at all → unsigned → the SP must sign → refused.
    const rebound = good.replace(
      'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"',
      'xmlns:ds="urn:not-xmldsig"',
    );
    assert.match(refused(await post(rebound)), /unsigned message/);
    // Signature in the default namespace (no prefix) is a signature: accepted.
    accepted(
      await post(signEnveloped(authnRequestXml(goal), SP_KEY, { prefix: '' })),
      'default ns',
    );
    // Issuer under another prefix bound to the assertion namespace: read by URI, accepted.
    const remapped = authnRequestXml(goal).replace(
      /<saml:Issuer>([^<]+)<\/saml:Issuer>/,
      '<a:Issuer xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion">$1</a:Issuer>',
    );
    accepted(await post(signEnveloped(remapped)), 'remapped prefix');
    // saml prefix rebound on the Issuer to a foreign namespace: no Issuer → refused.
    const foreign = authnRequestXml(goal).replace(
      '<saml:Issuer>',
      '<saml:Issuer xmlns:saml="urn:evil">',
    );
    refused(await post(signEnveloped(foreign)));
  });

  // LogoutRequest (POST) ----------------------------------------------------------------------------------
  test('B2.1/B2.3 on a LogoutRequest: wrapped or tampered NameID → refused; control accepted', async () => {
    const lr = (nameId: string): string =>
      '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
      ` ID="${uid()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
      `<saml:Issuer>${SIGNED_SP}</saml:Issuer><saml:NameID Format="${EMAIL}">${nameId}</saml:NameID></samlp:LogoutRequest>`;
    const ok = await post(signEnveloped(lr('victim@fedgate.test')));
    assert.ok(ok.status === 200 || ok.status === 302, `control: ${ok.status}`);
    const good = signEnveloped(lr('alice@fedgate.test'));
    refused(await post(good.replace('alice@', 'victim@')), 'tampered NameID');
    const wrapped = lr('victim@fedgate.test').replace(
      '</saml:Issuer>',
      `</saml:Issuer>${cleanCopy(good)}${sigOf(good)}`,
    );
    refused(await post(wrapped), 'XSW2');
  });

  // HTTP-Redirect binding ---------------------------------------------------------------------------------
  test('Redirect binding: a query signature over other content does not cover the received SAMLRequest or RelayState', async () => {
    const RSA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
    const query = (xml: string, relay: string, signedXml = xml, signedRelay = relay): string => {
      const enc = (x: string): string => encodeURIComponent(deflateRawSync(x).toString('base64'));
      const signed = `SAMLRequest=${enc(signedXml)}&RelayState=${encodeURIComponent(signedRelay)}&SigAlg=${encodeURIComponent(RSA256)}`;
      const sig = createSign('sha256').update(signed).sign(SP_KEY).toString('base64');
      return `SAMLRequest=${enc(xml)}&RelayState=${encodeURIComponent(relay)}&SigAlg=${encodeURIComponent(RSA256)}&Signature=${encodeURIComponent(sig)}`;
    };
    const get = (q: string): Promise<request.Response> => request(t.app).get(`/adfs/ls/?${q}`);
    accepted(await get(query(authnRequestXml(goal), 'r')), 'redirect control');
    const signedHonest = authnRequestXml(honest);
    const tampered = signedHonest.replace(
      'AssertionConsumerServiceIndex="0"',
      'AssertionConsumerServiceIndex="1"',
    );
    refused(await get(query(tampered, 'r', signedHonest)), 'SAMLRequest swapped');
    refused(await get(query(authnRequestXml(goal), 'evil', undefined, 'r')), 'RelayState swapped');
  });

  // Signed partner metadata -------------------------------------------------------------------------------
  test('metadata: XSW1, XSW4 and tampering of pinned-signed SP metadata are refused; control loads', async () => {
    const MD_SP = 'https://md-sp.fedgate.test';
    const md = (acs: string, id = uid()): string =>
      spMetadata(
        standardSp({ entityId: MD_SP, acs: [{ location: acs, index: 0, isDefault: true }] }),
      ).replace('<md:EntityDescriptor ', `<md:EntityDescriptor ID="${id}" `);
    writeFileSync(join(t.trustsDir, 'md-signer.pem'), SP_CERT);
    const acsOf = (): string | undefined =>
      t.services.trusts.find(MD_SP)?.saml?.metadata.assertionConsumerServices[0]?.location;
    let n = 0;
    const load = async (xml: string): Promise<void> => {
      // A new trust file each time: the loader sees a new file and reads its metadata afresh.
      n++;
      writeFileSync(join(t.trustsDir, `md-${n}.metadata.xml`), xml);
      writeFileSync(
        join(t.trustsDir, `md-${n}.yaml`),
        stringify({ metadata: `md-${n}.metadata.xml`, metadataCertificate: 'md-signer.pem' }),
      );
      await t.services.samlTrusts.load(false);
    };
    const forget = async (): Promise<void> => {
      const { rmSync } = await import('node:fs');
      rmSync(join(t.trustsDir, `md-${n}.yaml`));
      await t.services.samlTrusts.load(false);
    };
    // Control: the evil metadata, signed by the pinned key, loads.
    await load(signEnveloped(md('https://evil.example/acs')));
    assert.equal(acsOf(), 'https://evil.example/acs');
    await forget();
    assert.equal(acsOf(), undefined);
    const good = signEnveloped(md('https://md-sp.fedgate.test/acs'));
    const evilRoot = md('https://evil.example/acs');
    const attacks: [string, string][] = [
      ['tampered ACS', good.replace('https://md-sp.fedgate.test/acs', 'https://evil.example/acs')],
      [
        'XSW1',
        evilRoot.replace(
          '<md:SPSSODescriptor',
          `${sigOf(good).replace('</ds:Signature>', `${cleanCopy(good)}</ds:Signature>`)}<md:SPSSODescriptor`,
        ),
      ],
      [
        'XSW4 (genuine signed EntityDescriptor inside the evil one)',
        evilRoot.replace(
          '<md:SPSSODescriptor',
          `<md:Extensions>${good}</md:Extensions><md:SPSSODescriptor`,
        ),
      ],
    ];
    for (const [what, xml] of attacks) {
      const before = t.logs.events('saml_metadata_refresh_failed').length;
      await load(xml);
      assert.equal(acsOf(), undefined, `${what} loaded`);
      assert.equal(t.logs.events('saml_metadata_refresh_failed').length, before + 1, what);
      await forget();
    }
  });
});
