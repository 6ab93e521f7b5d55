export type {
  RstrModel,
  Saml11AssertionModel,
  Saml11Attribute,
  Saml2AssertionModel,
  Saml2Attribute,
  Saml2ResponseModel,
} from './types.ts';
export {
  CM_BEARER,
  NAMEID_FORMAT_UNSPECIFIED,
  SAML11_ASSERTION_NS,
  createSaml11Signer,
  writeCanonicalSaml11Assertion,
  writeSignedSaml11Assertion,
} from './saml11.ts';
export type { Saml11Signer } from './saml11.ts';
export {
  ATTRNAME_FORMAT_BASIC,
  ATTRNAME_FORMAT_URI,
  AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
  CONSENT_UNSPECIFIED,
  NAMEID_FORMAT_PERSISTENT,
  SAML2_ASSERTION_NS,
  SAML2_CM_BEARER,
  SAML2_PROTOCOL_NS,
  SAML2_STATUS_SUCCESS,
  createSaml2Signer,
  writeCanonicalSaml2Assertion,
  writeSignedSaml2Assertion,
  writeSignedSaml2Response,
} from './saml2.ts';
export type { Saml2ResponseOptions, Saml2SignOptions, Saml2Signer } from './saml2.ts';
export {
  ALG_AES256_CBC,
  ALG_AES256_GCM,
  CONTENT_ALGORITHMS,
  encryptSaml2Assertion,
} from './saml2-encryption.ts';
export type { AssertionEncryption, ContentAlgorithm } from './saml2-encryption.ts';
export {
  KEY_TYPE_NO_PROOF_KEY_2005,
  REQUEST_TYPE_ISSUE_2005,
  TOKEN_TYPE_SAML11,
  WSA_NS,
  WSP_NS,
  WSTRUST_2005_NS,
  WSU_NS,
  writeWsFedRstr,
} from './rstr.ts';
export {
  ALG_ENVELOPED_SIGNATURE,
  ALG_EXC_C14N,
  ALG_RSA_SHA256,
  ALG_SHA256,
  XMLDSIG_NS,
  createEnvelopedSigner,
  isSafeXmlId,
  protectXml11LineEnds,
} from './xmldsig.ts';
export type { EnvelopedSigner } from './xmldsig.ts';
