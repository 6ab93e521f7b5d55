export type { SigningCredential, TlsCredential } from './types.ts';
export {
  MIN_RSA_BITS,
  assertCertificateHostname,
  createSelfSignedCertificate,
  describeCertificate,
  generateRsaKey,
  oneYearValidity,
  privateKeyToPem,
  signingSubjectCn,
} from './generate.ts';
export type { CertificateFacts, SelfSignedOptions } from './generate.ts';
export {
  KeyMaterialError,
  SIGNING_CERT_FILE,
  SIGNING_KEY_FILE,
  TLS_CERT_FILE,
  TLS_KEY_FILE,
  loadOrCreateSigningCredential,
  loadOrCreateTlsCredential,
} from './store.ts';
export type {
  CredentialFiles,
  LoadCredentialOptions,
  LoadedSigningCredential,
  LoadedTlsCredential,
} from './store.ts';
