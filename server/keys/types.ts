import type { KeyObject } from 'node:crypto';

/** A token-signing key and its certificate, loaded once at start. */
export interface SigningCredential {
  privateKey: KeyObject;
  certificatePem: string;
  /** base64 of the DER certificate: what goes into ds:X509Certificate and the tenant's signingCertificate. */
  certificateBase64: string;
  /** SHA-1 thumbprint, upper-case hex (how AD FS and Entra show certificates). */
  thumbprintSha1: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/** TLS server certificate and key, PEM. */
export interface TlsCredential {
  certPem: string;
  keyPem: string;
  generated: boolean;
}
