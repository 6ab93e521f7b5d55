/**
 * Assertion encryption for SAML 2.0 (SAML Core §2.3.4 EncryptedAssertion, §6.1–6.2; XML Encryption 1.1).
 *
 * The signed assertion, as it goes on the wire, is the plaintext (sign first, then encrypt: the service
 * provider decrypts and then verifies the signature over the decrypted assertion, SAML Core §6.2). The
 * content is encrypted with a fresh random AES-256 key, GCM (XML Encryption 1.1 §5.2.4, the default) or CBC
 * (§5.2.2, for SPs that cannot do GCM); that key is encrypted to the SP's RSA key with RSA-OAEP
 * (`rsa-oaep-mgf1p`, §5.5.2) with SHA-1 as OAEP digest and MGF1-SHA-1, which is what `mgf1p` means and what
 * every SAML stack (AD FS, Shibboleth, xmlsec1, node xml-encryption) decrypts. RSA PKCS#1 v1.5 key transport
 * is never used (Bleichenbacher; XML Encryption 1.1 §5.5.1 note).
 *
 * Layout (what AD FS emits): EncryptedAssertion / EncryptedData Type=Element / EncryptionMethod, KeyInfo /
 * EncryptedKey (EncryptionMethod + DigestMethod, KeyInfo with the SP's certificate so an SP with several keys
 * can pick the right one, CipherData), CipherData.
 *
 * Like the rest of the SAML 2.0 writer, the element is written by concatenation already in exclusive
 * canonical form (Exc-C14N: namespace declarations where first visibly used, no empty-element tags), so it
 * can be spliced into a Response that is itself signed over its concatenated bytes (saml2.ts). The
 * `xmlns:saml` on saml:EncryptedAssertion is rendered by exc-c14n of the Response because no output
 * ancestor declares it (the Response declares only samlp), exactly as for a plain saml:Assertion.
 */
import { constants, createCipheriv, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { FederationError } from '../lib/errors.ts';

export const XMLENC_NS = 'http://www.w3.org/2001/04/xmlenc#';
export const XMLENC_ELEMENT = 'http://www.w3.org/2001/04/xmlenc#Element';
export const ALG_AES256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
export const ALG_AES256_CBC = 'http://www.w3.org/2001/04/xmlenc#aes256-cbc';
export const ALG_RSA_OAEP_MGF1P = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';
export const ALG_SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';

/** Content-encryption algorithms fedgate writes (short names are the trust file's). */
export const CONTENT_ALGORITHMS = {
  'aes256-gcm': ALG_AES256_GCM,
  'aes256-cbc': ALG_AES256_CBC,
} as const;
export type ContentAlgorithm = keyof typeof CONTENT_ALGORITHMS;

/** Who the assertion is encrypted for: the SP's encryption certificate from its metadata, and the algorithm. */
export interface AssertionEncryption {
  /** The SP's RSA public key (from its encryption certificate). */
  publicKey: KeyObject;
  /** The SP's encryption certificate, base64 DER (written into the EncryptedKey's KeyInfo). */
  certificateBase64: string;
  algorithm: ContentAlgorithm;
}

const DS = 'http://www.w3.org/2000/09/xmldsig#';
const OPEN =
  '<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">' +
  `<xenc:EncryptedData xmlns:xenc="${XMLENC_NS}" Type="${XMLENC_ELEMENT}">` +
  '<xenc:EncryptionMethod Algorithm="';
const KEY_OPEN =
  `"></xenc:EncryptionMethod><ds:KeyInfo xmlns:ds="${DS}"><xenc:EncryptedKey>` +
  `<xenc:EncryptionMethod Algorithm="${ALG_RSA_OAEP_MGF1P}">` +
  `<ds:DigestMethod Algorithm="${ALG_SHA1}"></ds:DigestMethod></xenc:EncryptionMethod>` +
  '<ds:KeyInfo><ds:X509Data><ds:X509Certificate>';
const KEY_CIPHER =
  '</ds:X509Certificate></ds:X509Data></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>';
const DATA_CIPHER =
  '</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>' +
  '<xenc:CipherData><xenc:CipherValue>';
const CLOSE =
  '</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>';

/** Encrypts `plaintext` (UTF-8) with a fresh key: [ciphertext as XML Encryption lays it out, the key]. */
function encryptContent(plaintext: string, algorithm: ContentAlgorithm): [Buffer, Buffer] {
  const key = randomBytes(32);
  const data = Buffer.from(plaintext, 'utf8');
  if (algorithm === 'aes256-gcm') {
    // XML Encryption 1.1 §5.2.4: 96-bit IV, then the ciphertext, then the 128-bit authentication tag.
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(data), c.final()]);
    return [Buffer.concat([iv, body, c.getAuthTag()]), key];
  }
  // §5.2.2 / §5.2 block padding: PKCS#7 (Node's default) satisfies it (last octet = pad length, 1..16).
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', key, iv);
  return [Buffer.concat([iv, c.update(data), c.final()]), key];
}

/**
 * The `saml:EncryptedAssertion` for one assertion (its wire form, signature included), in canonical form.
 * Throws a FederationError (never emits a plaintext fallback) when the key cannot be used.
 */
export function encryptSaml2Assertion(assertionXml: string, to: AssertionEncryption): string {
  const algorithm = CONTENT_ALGORITHMS[to.algorithm] as string | undefined;
  if (algorithm === undefined) fail(`unsupported content algorithm ${to.algorithm}`);
  if (!/^[A-Za-z0-9+/]+=*$/.test(to.certificateBase64)) fail('certificate is not base64');
  let wrapped: Buffer;
  let content: Buffer;
  try {
    const [ciphertext, key] = encryptContent(assertionXml, to.algorithm);
    content = ciphertext;
    wrapped = publicEncrypt(
      { key: to.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      key,
    );
    key.fill(0);
  } catch (e) {
    fail(e instanceof Error ? e.message : 'encryption failed');
  }
  return (
    OPEN +
    algorithm +
    KEY_OPEN +
    to.certificateBase64 +
    KEY_CIPHER +
    wrapped.toString('base64') +
    DATA_CIPHER +
    content.toString('base64') +
    CLOSE
  );
}

function fail(why: string): never {
  throw new FederationError('internal', 'The token could not be issued.', {
    detail: `SAML 2.0 assertion encryption: ${why}`,
  });
}
