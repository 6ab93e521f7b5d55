import { sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { SigningCertificate, SigningCredential } from './types.ts';

/** A token-signing credential whose private key is in this process (a key file). */
export type FileSigningCredential = SigningCredential & { privateKey: KeyObject; custody: 'file' };

/** The public facts of a certificate, without anything else a caller's object may carry. */
export function certificateFacts(c: SigningCertificate): SigningCertificate {
  return {
    certificatePem: c.certificatePem,
    certificateBase64: c.certificateBase64,
    thumbprintSha1: c.thumbprintSha1,
    subject: c.subject,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  };
}

/** Wraps an RSA private key and its certificate as a SigningCredential (RSASSA-PKCS1-v1_5, SHA-256). */
export function fileSigningCredential(
  privateKey: KeyObject,
  cert: SigningCertificate,
): FileSigningCredential {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') {
    throw new TypeError('the token-signing key must be an RSA private key');
  }
  return {
    ...certificateFacts(cert),
    custody: 'file',
    privateKey,
    signSha256: (data) => sign('sha256', data, privateKey),
  };
}
