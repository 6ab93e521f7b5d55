/**
 * The enveloped signer's SignedInfo is checked against xml-crypto's canonicalization of the SignedInfo as
 * it appears in the document (XMLDSig §3.2.1.1: the SignatureValue covers the canonical SignedInfo).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ALG_EXC_C14N,
  ALG_RSA_SHA256,
  ALG_SHA256,
  XMLDSIG_NS,
  createEnvelopedSigner,
  isSafeXmlId,
  protectXml11LineEnds,
} from '../../../server/tokens/xmldsig.ts';
import { fixtureCredential } from '../../fixtures/tokens/credentials.ts';
import { fileSigningCredential } from '../../../server/keys/credential.ts';
import { childElements, excC14n, parseStrict } from '../../helpers/verify.ts';

const cred = fixtureCredential('signing');

describe('enveloped signer', () => {
  const canonical = '<x:Doc xmlns:x="urn:x" ID="_d1">text &amp; more</x:Doc>';
  const signature = createEnvelopedSigner(cred).signatureFor('_d1', canonical);

  it('signs the exc-c14n form of the SignedInfo it embeds', () => {
    const sig = parseStrict(signature).documentElement;
    assert.ok(sig);
    assert.equal(sig.namespaceURI, XMLDSIG_NS);
    const [signedInfo, signatureValue, keyInfo] = childElements(sig);
    assert.ok(signedInfo && signatureValue && keyInfo);
    assert.deepEqual(
      childElements(sig).map((e) => e.localName),
      ['SignedInfo', 'SignatureValue', 'KeyInfo'],
    );
    const c14n = excC14n(signedInfo);
    assert.ok(c14n.startsWith(`<ds:SignedInfo xmlns:ds="${XMLDSIG_NS}">`));
    const ok = verify(
      'sha256',
      Buffer.from(c14n, 'utf8'),
      cred.privateKey,
      Buffer.from(signatureValue.textContent, 'base64'),
    );
    assert.ok(ok, 'SignatureValue verifies over xml-crypto canonical SignedInfo');
    assert.equal(keyInfo.textContent, cred.certificateBase64);
  });

  it('carries the profile Entra expects and the SHA-256 digest of the given bytes', () => {
    assert.ok(signature.includes(`<ds:CanonicalizationMethod Algorithm="${ALG_EXC_C14N}">`));
    assert.ok(signature.includes(`<ds:SignatureMethod Algorithm="${ALG_RSA_SHA256}">`));
    assert.ok(signature.includes(`<ds:DigestMethod Algorithm="${ALG_SHA256}">`));
    const digest = createHash('sha256').update(canonical, 'utf8').digest('base64');
    assert.ok(signature.includes(`<ds:DigestValue>${digest}</ds:DigestValue>`));
  });

  it('refuses keys that cannot do rsa-sha256 and IDs that are not NCNames', () => {
    // The key check moved to fileSigningCredential (an HSM key has no KeyObject): it refuses EC and public keys.
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => fileSigningCredential(ec.privateKey, cred), TypeError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(() => fileSigningCredential(rsa.publicKey, cred), TypeError);
    assert.throws(
      () =>
        createEnvelopedSigner({
          signSha256: (d) => cred.signSha256(d),
          certificateBase64: 'MIIB\nAA==',
        }),
      TypeError,
    );
    const signer = createEnvelopedSigner(cred);
    for (const id of ['', '1abc', "_a'b", '_a"b', '_a b', '#x', '_a]']) {
      assert.throws(() => signer.signatureFor(id, canonical), TypeError, id);
    }
  });

  it('recognises NCName-style IDs and escapes XML 1.1 line ends', () => {
    assert.ok(isSafeXmlId('_9bd2b280-f153-471a-9b73-c1df0d555075'));
    assert.ok(isSafeXmlId('ID_1.x'));
    assert.ok(!isSafeXmlId('9bd2'));
    assert.equal(protectXml11LineEnds('a\u0085b\u2028c\u2029d'), 'a&#x85;b&#x2028;c&#x2029;d');
    const plain = 'no line ends here \n\r';
    assert.equal(protectXml11LineEnds(plain), plain);
  });
});
