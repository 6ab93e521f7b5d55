/**
 * The EncryptedAssertion writer on its own: its output is already in exclusive canonical form (so a Response
 * signature over the concatenated bytes verifies, saml2.ts), every call uses a fresh content key and IV, the
 * plaintext comes back with an independent decryption (Node's crypto with the SP's private key, following XML
 * Encryption's layout), and keys it cannot use are refused rather than skipped.
 */
import assert from 'node:assert/strict';
import {
  X509Certificate,
  constants,
  createDecipheriv,
  createPrivateKey,
  privateDecrypt,
} from 'node:crypto';
import { describe, it } from 'node:test';
import { FederationError } from '../../../server/lib/errors.ts';
import {
  ALG_AES256_CBC,
  ALG_AES256_GCM,
  encryptSaml2Assertion,
  type AssertionEncryption,
  type ContentAlgorithm,
} from '../../../server/tokens/saml2-encryption.ts';
import {
  writeSignedSaml2Assertion,
  writeSignedSaml2Response,
} from '../../../server/tokens/saml2.ts';
import { fixtureCredential } from '../../fixtures/tokens/credentials.ts';
import { entraSaml2Assertion, entraSaml2Response } from '../../fixtures/tokens/saml2.ts';
import { EC_CERT, ENC_CERT, ENC_KEY } from '../../fixtures/saml2/encryption.ts';
import { excC14n, parseStrict, verifySaml2AssertionWithXmlCrypto } from '../../helpers/verify.ts';

const cred = fixtureCredential('signing');
const XENC = 'http://www.w3.org/2001/04/xmlenc#';

function target(algorithm: ContentAlgorithm, certPem = ENC_CERT): AssertionEncryption {
  const cert = new X509Certificate(certPem);
  return {
    publicKey: cert.publicKey,
    certificateBase64: Buffer.from(cert.raw).toString('base64'),
    algorithm,
  };
}

/** Decrypts with the SP key, straight from the XML Encryption layout (no SAML library involved). */
function decrypt(encryptedAssertion: string): { algorithm: string; plaintext: string } {
  const doc = parseStrict(encryptedAssertion);
  const methods = Array.from(doc.getElementsByTagNameNS(XENC, 'EncryptionMethod'));
  const values = Array.from(doc.getElementsByTagNameNS(XENC, 'CipherValue')).map((e) =>
    Buffer.from(e.textContent, 'base64'),
  );
  const algorithm = methods[0]?.getAttribute('Algorithm') ?? '';
  const [wrapped, content] = values;
  assert.ok(wrapped && content);
  const key = privateDecrypt(
    { key: createPrivateKey(ENC_KEY), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
    wrapped,
  );
  if (algorithm === ALG_AES256_GCM) {
    const d = createDecipheriv('aes-256-gcm', key, content.subarray(0, 12));
    d.setAuthTag(content.subarray(content.length - 16));
    const out = Buffer.concat([d.update(content.subarray(12, content.length - 16)), d.final()]);
    return { algorithm, plaintext: out.toString('utf8') };
  }
  const d = createDecipheriv('aes-256-cbc', key, content.subarray(0, 16));
  return {
    algorithm,
    plaintext: Buffer.concat([d.update(content.subarray(16)), d.final()]).toString('utf8'),
  };
}

describe('SAML 2.0 EncryptedAssertion writer', () => {
  const assertion = writeSignedSaml2Assertion(entraSaml2Assertion(), cred);

  for (const [name, uri] of [
    ['aes256-gcm', ALG_AES256_GCM],
    ['aes256-cbc', ALG_AES256_CBC],
  ] as const) {
    it(`${name}: canonical as written, decrypts to the signed assertion, which still verifies`, () => {
      const xml = encryptSaml2Assertion(assertion, target(name));
      assert.equal(excC14n(parseStrict(xml).documentElement), xml, 'already exc-c14n');
      const d = decrypt(xml);
      assert.equal(d.algorithm, uri);
      assert.equal(d.plaintext, assertion);
      verifySaml2AssertionWithXmlCrypto(d.plaintext, cred.certificatePem);
    });
  }

  it('every call uses a fresh content key and IV', () => {
    const a = encryptSaml2Assertion(assertion, target('aes256-gcm'));
    const b = encryptSaml2Assertion(assertion, target('aes256-gcm'));
    const values = (x: string): string[] =>
      [...x.matchAll(/<xenc:CipherValue>([^<]+)</g)].map((m) => m[1]!);
    const [ka, ca] = values(a);
    const [kb, cb] = values(b);
    assert.notEqual(ka, kb);
    assert.notEqual(ca?.slice(0, 16), cb?.slice(0, 16), 'IVs differ');
  });

  it('the Response writer encrypts after signing; the Response signature covers the EncryptedAssertion', () => {
    const model = entraSaml2Response();
    const xml = writeSignedSaml2Response(model, cred, {
      signResponse: true,
      encryptAssertion: target('aes256-gcm'),
    });
    assert.equal(xml.match(/<saml:Assertion /g), null, 'no plaintext assertion');
    const root = parseStrict(xml).documentElement;
    assert.equal(excC14n(root), xml, 'the whole Response is canonical as written');
    const ea = /<saml:EncryptedAssertion[\s\S]*<\/saml:EncryptedAssertion>/.exec(xml)?.[0] ?? '';
    const claims = verifySaml2AssertionWithXmlCrypto(decrypt(ea).plaintext, cred.certificatePem);
    assert.equal(claims.assertionId, model.assertion.assertionId);
  });

  it('refuses a key it cannot use (EC) instead of sending the assertion in clear', () => {
    assert.throws(
      () => encryptSaml2Assertion(assertion, target('aes256-gcm', EC_CERT)),
      (e: unknown) =>
        e instanceof FederationError && /SAML 2.0 assertion encryption:/.test(e.detail ?? ''),
    );
  });
});
