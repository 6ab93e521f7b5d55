import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import request from 'supertest';
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';
import { stringify } from 'yaml';
import {
  EMAIL,
  ENVELOPED,
  EXC_C14N,
  SHA256,
  SP_CERT,
  SP_KEY,
  authnRequestXml,
  b64,
  samlApp,
  signEnveloped,
  spMetadata,
  standardSp,
  uid,
  assertRequestAccepted,
  refusalDetail,
} from '../fixtures/saml2/harness.ts';

// The profile checks of server/lib/xml-signature.ts that StrykerJS found no test pinning down (issue 14 §3,
// `npm run mutate:stryker`). Every case goes through fedgate's own entry point (HTTP-POST AuthnRequest on
// /adfs/ls/, HTTP-Redirect for the SigAlg allow-list) with a message the SP signs with its registered key, so
// xml-crypto alone would accept it: only the named check refuses it. Each starts with a positive control sent
// the same way, and reads the logged reason to show which check refused (corpus B2.11, B2.14, A5, A14:
// ../shared/security-corpus.md). Cases where xml-crypto would refuse too are marked "defence in depth".

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const C14N_INCLUSIVE = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const RSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384';
const RSA_SHA512 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512';
const SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';
const SHA512 = 'http://www.w3.org/2001/04/xmlenc#sha512';

const SIGNED_SP = 'https://signed-sp.fedgate.test';
const SHA1_SP = 'https://sha1-sp.fedgate.test';
const NOCERT_SP = 'https://nocert-sp.fedgate.test';

/** Signs SignedInfo again as it now stands, with the SP's own key: only the edited SignedInfo differs. */
function resign(xml: string, hash = 'sha256'): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const si = doc.getElementsByTagNameNS(DSIG, 'SignedInfo')[0];
  assert.ok(si !== undefined, 'SignedInfo');
  const canon = new ExclusiveCanonicalization().process(si, {});
  const value = createSign(hash).update(canon).sign(SP_KEY).toString('base64');
  return xml.replace(
    /<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/,
    `<ds:SignatureValue>${value}</ds:SignatureValue>`,
  );
}

/** Replaces exactly one occurrence of `from` (so an edit that no longer applies fails loudly). */
function edit(xml: string, from: string | RegExp, to: string): string {
  const out = xml.replace(from, to);
  assert.notEqual(out, xml, `edit did not apply: ${String(from)}`);
  return out;
}

describe('xml-signature.ts profile checks, one message each (Stryker survivors)', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    const sp = (entityId: string, cert: string | undefined) =>
      spMetadata(
        standardSp({
          entityId,
          acs: [{ location: `${entityId}/acs`, index: 0, isDefault: true }],
          authnRequestsSigned: cert !== undefined,
          ...(cert === undefined ? { cert: undefined } : { cert }),
        }),
      );
    t = await samlApp([
      { file: 'signed-sp', metadataXml: sp(SIGNED_SP, SP_CERT), trust: { nameIdFormat: EMAIL } },
      {
        file: 'sha1-sp',
        metadataXml: sp(SHA1_SP, SP_CERT),
        trust: { nameIdFormat: EMAIL, allowSha1: true },
      },
      { file: 'nocert-sp', metadataXml: sp(NOCERT_SP, undefined), trust: { nameIdFormat: EMAIL } },
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
  const req = (issuer = SIGNED_SP, id = uid()): string =>
    authnRequestXml({ issuer, id, acsIndex: 0 });

  const accepted = assertRequestAccepted;
  const refused = (res: request.Response, what = 'attack'): string =>
    refusalDetail(res, t.logs, what);
  const control = async (): Promise<void> => {
    accepted(await post(signEnveloped(req())));
  };

  // Algorithms (B2.14, corpus A14: SHA-1 only for partners that need it) ----------------------------------
  test('rsa-sha1 SignatureMethod is refused unless the partner is allowed SHA-1; SHA-1 partner accepted', async () => {
    await control();
    const sha1Sig = (issuer: string): string =>
      signEnveloped(req(issuer), SP_KEY, { alg: RSA_SHA1, digest: SHA256 });
    accepted(await post(sha1Sig(SHA1_SP)), 'SHA-1 partner');
    assert.match(
      refused(await post(sha1Sig(SIGNED_SP))),
      /signature algorithm \S+rsa-sha1 refused/,
    );
  });

  test('SHA-1 DigestMethod is refused unless the partner is allowed SHA-1; SHA-1 partner accepted', async () => {
    await control();
    const sha1Digest = (issuer: string): string =>
      signEnveloped(req(issuer), SP_KEY, { alg: RSA_SHA256, digest: SHA1 });
    accepted(await post(sha1Digest(SHA1_SP)), 'SHA-1 partner');
    assert.match(refused(await post(sha1Digest(SIGNED_SP))), /digest \S+#sha1 refused/);
  });

  test('rsa-sha512 with a SHA-512 digest is accepted (allow-list is not SHA-256 only)', async () => {
    accepted(await post(signEnveloped(req(), SP_KEY, { alg: RSA_SHA512, digest: SHA512 })));
  });

  test('HTTP-Redirect: rsa-sha384 and rsa-sha512 SigAlg accepted, rsa-sha1 refused for a partner without SHA-1', async () => {
    // allowedSignatureMethods() is the allow-list of the query-string signature too (bindings.ts).
    const get = (alg: string, hash: string): Promise<request.Response> => {
      const q = `SAMLRequest=${encodeURIComponent(deflateRawSync(req()).toString('base64'))}&SigAlg=${encodeURIComponent(alg)}`;
      const sig = createSign(hash).update(q).sign(SP_KEY).toString('base64');
      return request(t.app).get(`/adfs/ls/?${q}&Signature=${encodeURIComponent(sig)}`);
    };
    accepted(await get(RSA_SHA256, 'sha256'), 'rsa-sha256');
    accepted(await get(RSA_SHA384, 'sha384'), 'rsa-sha384');
    accepted(await get(RSA_SHA512, 'sha512'), 'rsa-sha512');
    assert.match(refused(await get(RSA_SHA1, 'sha1')), /SigAlg \S+rsa-sha1 refused/);
  });

  test('inclusive c14n as CanonicalizationMethod is refused (exc-c14n only)', async () => {
    await control();
    const signed = signEnveloped(req(), SP_KEY, { c14n: C14N_INCLUSIVE });
    assert.match(
      refused(await post(signed)),
      /canonicalization http:\/\/www\.w3\.org\/TR\/2001\/REC-xml-c14n-20010315 refused/,
    );
  });

  // Transforms (B2.14: only enveloped-signature and exc-c14n, no parameters, at most two) -----------------
  test('an inclusive-c14n Transform is refused', async () => {
    await control();
    const signed = signEnveloped(req(), SP_KEY, { transforms: [ENVELOPED, C14N_INCLUSIVE] });
    assert.match(refused(await post(signed)), /transform \S+REC-xml-c14n-20010315 refused/);
  });

  test('an element other than ds:Transform inside ds:Transforms is refused', async () => {
    await control();
    // xml-crypto reads only ds:Transform children, so it ignores this one; the profile does not.
    const signed = signEnveloped(req(), SP_KEY, { transforms: [ENVELOPED] });
    const edited = edit(
      signed,
      /(<ds:Transform Algorithm="[^"]+"\/>)/,
      `$1<ds:Object Algorithm="${ENVELOPED}"/>`,
    );
    accepted(await post(resign(signed)), 'one enveloped transform');
    assert.match(refused(await post(resign(edited))), /transform \S+enveloped-signature refused/);
  });

  test('an enveloped-signature Transform with parameters is refused', async () => {
    await control();
    const signed = signEnveloped(req());
    const edited = edit(
      signed,
      `<ds:Transform Algorithm="${ENVELOPED}"/>`,
      `<ds:Transform Algorithm="${ENVELOPED}"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>`,
    );
    assert.match(refused(await post(resign(edited))), /transform parameters refused/);
  });

  test('an exc-c14n Transform with InclusiveNamespaces (as many SPs send it) is accepted', async () => {
    // Signed by xml-crypto with a PrefixList, so the digest covers what the verifier canonicalizes.
    const sx = new SignedXml({
      privateKey: SP_KEY,
      signatureAlgorithm: RSA_SHA256,
      canonicalizationAlgorithm: EXC_C14N,
    });
    sx.addReference({
      xpath: "/*[local-name()='AuthnRequest']",
      transforms: [ENVELOPED, EXC_C14N],
      digestAlgorithm: SHA256,
      inclusiveNamespacesPrefixList: ['saml'],
    });
    sx.computeSignature(req(), {
      prefix: 'ds',
      location: { reference: "/*/*[local-name()='Issuer']", action: 'after' },
    });
    // xml-crypto writes the PrefixList under every Transform, in the algorithm URI as namespace; an SP puts
    // one ec:InclusiveNamespaces under the exc-c14n Transform only (Exclusive XML Canonicalization §3).
    const signed = edit(
      edit(
        sx.getSignedXml(),
        /(<ds:Transform Algorithm="[^"]+enveloped-signature")><InclusiveNamespaces[^>]*\/><\/ds:Transform>/,
        '$1/>',
      ),
      /<InclusiveNamespaces PrefixList="saml" xmlns="[^"]+"\/>/,
      `<ec:InclusiveNamespaces xmlns:ec="${EXC_C14N}" PrefixList="saml"/>`,
    );
    accepted(await post(resign(signed)), 'InclusiveNamespaces');
  });

  test('three transforms are refused', async () => {
    await control();
    const signed = signEnveloped(req(), SP_KEY, { transforms: [ENVELOPED, ENVELOPED, EXC_C14N] });
    assert.match(refused(await post(signed)), /too many transforms/);
  });

  test('a second ds:Transforms element is refused', async () => {
    await control();
    const signed = signEnveloped(req());
    const edited = edit(signed, '</ds:Transforms>', '</ds:Transforms><ds:Transforms/>');
    assert.match(refused(await post(resign(edited))), /more than one Transforms/);
  });

  test('a Reference without Transforms gets a clean 400, not a crash', async () => {
    await control();
    const signed = signEnveloped(req());
    const edited = edit(signed, /<ds:Transforms>.*?<\/ds:Transforms>/, '');
    // Without the enveloped transform the digest covers the signature itself: it cannot verify.
    assert.match(refused(await post(resign(edited))), /does not verify/);
  });

  // Structure (B2.11) -------------------------------------------------------------------------------------
  test('two DigestValue elements are refused (defence in depth: xml-crypto refuses too)', async () => {
    await control();
    const signed = signEnveloped(req());
    const edited = edit(signed, /(<ds:DigestValue>[^<]*<\/ds:DigestValue>)/, '$1$1');
    assert.match(refused(await post(resign(edited))), /expected exactly one DigestValue/);
  });

  test('two SignedInfo elements are refused, naming the element (defence in depth)', async () => {
    await control();
    const signed = signEnveloped(req());
    const edited = edit(signed, /(<ds:SignedInfo>[\s\S]*<\/ds:SignedInfo>)/, '$1$1');
    assert.match(refused(await post(edited)), /expected exactly one SignedInfo in Signature/);
  });

  test('a second ds:Signature nested below a correctly signed root is refused', async () => {
    await control();
    // The SP signs the whole message, nested Signature included, so the root signature verifies.
    const inner = `<ds:Signature xmlns:ds="${DSIG}"><ds:SignedInfo/></ds:Signature>`;
    const signed = signEnveloped(
      authnRequestXml({
        issuer: SIGNED_SP,
        acsIndex: 0,
        extra: `<samlp:Extensions><x:E xmlns:x="urn:x">${inner}</x:E></samlp:Extensions>`,
      }),
    );
    assert.match(refused(await post(signed)), /exactly one signature, on its root/);
  });

  // The signed ID (A5; xs:ID is an NCName, and it is placed in xml-crypto's XPath) -----------------------
  test('pinned metadata: unsigned, or signed with a root ID missing or not an NCName, is refused (the message readers check ID first)', async () => {
    // For AuthnRequest and LogoutRequest, messages.ts refuses such an ID before the signature is looked at;
    // signed partner metadata (EntityDescriptor ID is optional in SAML Metadata §2.3.2) has only this check.
    const MD_SP = 'https://md-sp.fedgate.test';
    writeFileSync(join(t.trustsDir, 'md-signer.pem'), SP_CERT);
    const acsOf = (): string | undefined =>
      t.services.trusts.find(MD_SP)?.saml?.metadata.assertionConsumerServices[0]?.location;
    const md = (id: string | undefined): string => {
      const xml = spMetadata(
        standardSp({
          entityId: MD_SP,
          acs: [{ location: `${MD_SP}/acs`, index: 0, isDefault: true }],
        }),
      );
      return id === undefined
        ? xml
        : xml.replace('<md:EntityDescriptor ', `<md:EntityDescriptor ID="${id}" `);
    };
    let n = 0;
    /** Loads `xml` as a new pinned-signed trust; returns the logged failure reason, or '' if it loaded. */
    const load = async (xml: string): Promise<string> => {
      n++;
      const before = t.logs.events('saml_metadata_refresh_failed').length;
      writeFileSync(join(t.trustsDir, `md-${n}.metadata.xml`), xml);
      writeFileSync(
        join(t.trustsDir, `md-${n}.yaml`),
        stringify({ metadata: `md-${n}.metadata.xml`, metadataCertificate: 'md-signer.pem' }),
      );
      await t.services.samlTrusts.load(false);
      const failed = t.logs.events('saml_metadata_refresh_failed').slice(before);
      const loaded = acsOf() !== undefined;
      rmSync(join(t.trustsDir, `md-${n}.yaml`));
      await t.services.samlTrusts.load(false);
      assert.equal(acsOf(), undefined, 'trust forgotten');
      if (loaded) return '';
      const reason = failed[0]?.reason;
      return typeof reason === 'string' ? reason : 'failed without a reason';
    };
    assert.equal(await load(signEnveloped(md(uid()))), '', 'control: NCName ID loads');
    // Leading digit (no "^"), trailing junk (no "$"), no ID at all (xml-crypto then adds Id="_0").
    // A pinned certificate means the metadata must be signed: unsigned metadata is refused as such.
    assert.match(await load(md(uid())), /the message is not signed/, 'unsigned');
    for (const id of ['1abc', '_abc:def', undefined])
      assert.match(await load(signEnveloped(md(id))), /no usable ID/, String(id));
  });

  test('a descendant carrying the signed ID as Id or id is refused (duplicate ID, XSW)', async () => {
    await control();
    for (const attr of ['Id', 'id']) {
      const id = uid();
      const signed = signEnveloped(
        authnRequestXml({
          issuer: SIGNED_SP,
          id,
          acsIndex: 0,
          extra: `<samlp:Extensions><x:E xmlns:x="urn:x"><x:F ${attr}="${id}"/></x:E></samlp:Extensions>`,
        }),
      );
      assert.match(refused(await post(signed), attr), /signed ID appears more than once/);
    }
  });

  // Keys --------------------------------------------------------------------------------------------------
  test('a signed request from a partner with no registered signing certificate names that reason', async () => {
    accepted(await post(req(NOCERT_SP)), 'unsigned control');
    assert.match(
      refused(await post(signEnveloped(req(NOCERT_SP)))),
      /no signing certificate is registered/,
    );
  });
});
