export type { RstrModel, Saml11AssertionModel, Saml11Attribute } from './types.ts';
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
