import type { KeyObject } from 'node:crypto';

/** The public facts of a token-signing certificate (what metadata, the tenant and metrics show). */
export interface SigningCertificate {
  certificatePem: string;
  /** base64 of the DER certificate: what goes into ds:X509Certificate and the tenant's signingCertificate. */
  certificateBase64: string;
  /** SHA-1 thumbprint, upper-case hex (how AD FS and Entra show certificates). */
  thumbprintSha1: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A token-signing key and its certificate. The key may be a file (then `privateKey` is set) or live in a PKCS#11
 * HSM (then only `signSha256` can use it: the key never leaves the device).
 */
export interface SigningCredential extends SigningCertificate {
  /** RSASSA-PKCS1-v1_5 with SHA-256 over `data` (XMLDSig rsa-sha256, the SAML redirect binding's signature). */
  signSha256(data: Buffer): Buffer;
  /** Where the private key is kept. */
  custody: 'file' | 'pkcs11';
  /** The key itself, only for `file` custody. */
  privateKey?: KeyObject;
}

/** TLS server certificate and key, PEM. */
export interface TlsCredential {
  certPem: string;
  keyPem: string;
  generated: boolean;
}
