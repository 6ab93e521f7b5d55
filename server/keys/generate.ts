/**
 * Key and self-signed certificate generation (token signing and the HTTPS listener).
 *
 * Keys come from node:crypto (OpenSSL); the certificate is assembled and signed by @peculiar/x509 on Node's
 * WebCrypto, so no openssl binary or hand-written ASN.1 is involved.
 */
import {
  X509Certificate,
  createHash,
  createPublicKey,
  generateKeyPair,
  webcrypto,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import type * as X509Lib from '@peculiar/x509';

const generateKeyPairAsync = promisify(generateKeyPair);

/** RSA-2048 is what AD FS generates and what Entra accepts for token signing ([CERTS]); never less. */
export const MIN_RSA_BITS = 2048;

/** Subject common name of a generated token-signing certificate, mirroring AD FS's `CN=ADFS Signing - <fs-name>`. */
export function signingSubjectCn(hostname: string): string {
  return `fedgate Signing - ${hostname}`;
}

export async function generateRsaKey(bits = MIN_RSA_BITS): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
  });
  return privateKey;
}

/**
 * PKCS#8 PEM, the form `loadOrCreate*` writes and reads; with a passphrase an `ENCRYPTED PRIVATE KEY` (PBES2:
 * PBKDF2 and AES-256-CBC, OpenSSL's choice for this cipher name).
 */
export function privateKeyToPem(key: KeyObject, passphrase?: string): string {
  return key
    .export(
      passphrase === undefined
        ? { type: 'pkcs8', format: 'pem' }
        : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
    )
    .toString();
}

/**
 * A host name fedgate may put into a generated certificate: an IP address, or a DNS name of letter/digit/
 * hyphen labels (no wildcards: fedgate never generates one). Anything else could smuggle extra RDNs or SANs.
 */
export function assertCertificateHostname(hostname: string): void {
  if (isIP(hostname) !== 0) return;
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  if (
    hostname.length > 253 ||
    hostname.length === 0 ||
    !hostname.split('.').every((l) => label.test(l))
  ) {
    throw new Error(`"${hostname}" is not a valid host name for a certificate`);
  }
}

export interface SelfSignedOptions {
  privateKey: KeyObject;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** `signing`: digitalSignature only. `tls`: digitalSignature + keyEncipherment and the serverAuth EKU. */
  purpose: 'signing' | 'tls';
  dnsNames?: string[];
  ipAddresses?: string[];
  /** 16 random bytes (RFC 5280 §4.1.2.2 allows up to 20 octets; CA/B Forum wants ≥64 bits of entropy). */
  serial: Buffer;
}

/**
 * @peculiar/x509 registers its algorithm providers in a tsyringe container, and tsyringe needs the Reflect
 * metadata polyfill loaded first. The library is loaded lazily: only when a certificate is generated.
 */
let x509Lib: Promise<typeof X509Lib> | undefined;
function loadX509(): Promise<typeof X509Lib> {
  x509Lib ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return x509Lib;
}

/** Builds and signs (SHA-256 with RSA) a self-signed X.509 v3 certificate; returns it as PEM. */
export async function createSelfSignedCertificate(opts: SelfSignedOptions): Promise<string> {
  const x509 = await loadX509();
  // Node's WebCrypto is passed explicitly (`provider`) rather than installed as the library's global one.
  // Node's webcrypto and the DOM lib's Crypto type differ only in newer algorithm overloads.
  const provider = webcrypto as unknown as Crypto;
  const subtle = webcrypto.subtle;
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const pkcs8 = opts.privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(opts.privateKey).export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await subtle.importKey('pkcs8', pkcs8, alg, false, ['sign']),
    publicKey: await subtle.importKey('spki', spki, alg, true, ['verify']),
  };

  // A positive INTEGER with no leading zero octet: clear the top bit, set the next one.
  const serial = Buffer.from(opts.serial);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;

  // KeyUsageFlags is a bit set: the library takes the OR of its members, a number the enum type cannot name.
  const usage: number =
    opts.purpose === 'tls'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  const extensions: X509Lib.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- OR of enum members (see above)
    new x509.KeyUsagesExtension(usage, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
  ];
  if (opts.purpose === 'tls') {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false));
    const names: X509Lib.JsonGeneralName[] = [
      ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }

  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      // JSON form, so that a name is never re-parsed from an RFC 2253 string.
      name: [{ CN: [opts.commonName] }],
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      signingAlgorithm: alg,
      keys,
      extensions,
    },
    provider,
  );
  return cert.toString('pem') + '\n';
}

/** One year from `from`, like AD FS's auto-generated certificates ([CERTS]). X.509 time has whole seconds. */
export function oneYearValidity(from: Date): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Math.floor(from.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 1);
  return { notBefore, notAfter };
}

export interface CertificateFacts {
  /** The single certificate, re-encoded as PEM (any chain after it dropped). */
  certificatePem: string;
  certificateBase64: string;
  thumbprintSha1: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  x509: X509Certificate;
}

/** Facts AD FS and Entra show for a certificate, computed with node's X509Certificate. */
export function describeCertificate(pem: string | Buffer): CertificateFacts {
  const cert = new X509Certificate(pem);
  return {
    certificatePem: cert.toString(),
    certificateBase64: cert.raw.toString('base64'),
    // Same value as cert.fingerprint without the colons; computed from the DER so the format is ours.
    thumbprintSha1: createHash('sha1').update(cert.raw).digest('hex').toUpperCase(),
    subject: cert.subject,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    x509: cert,
  };
}
