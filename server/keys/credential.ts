import { createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { FederationError } from '../lib/errors.ts';
import type { CertificateFacts } from './generate.ts';
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

/** Whether `pub` (a public or private key) is the key of the certificate (same SubjectPublicKeyInfo). */
export function samePublicKey(pub: KeyObject, facts: CertificateFacts): boolean {
  const a = (pub.type === 'public' ? pub : createPublicKey(pub)).export({
    type: 'spki',
    format: 'der',
  });
  return a.equals(facts.x509.publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * A token-signing credential whose key is in a device (a PKCS#11 HSM): only its signing operation is used. The
 * caller has checked that the certificate is the key's (samePublicKey). A device that fails (after its own
 * reconnect) ends the request in a deliberate 503 page or SOAP fault with its activity id, as when the store is
 * down; nothing is signed another way.
 */
export function deviceSigningCredential(
  key: { signSha256(data: Buffer): Buffer },
  cert: SigningCertificate,
  description: string,
): SigningCredential {
  return {
    ...certificateFacts(cert),
    custody: 'pkcs11',
    signSha256: (data) => {
      try {
        return key.signSha256(data);
      } catch (err) {
        throw new FederationError(
          'signing_unavailable',
          'The sign-in service is temporarily unavailable. Try again in a few minutes.',
          {
            detail: `HSM signing failed (${description}): ${err instanceof Error ? err.message : String(err)}`,
            cause: err,
          },
        );
      }
    },
  };
}
