/**
 * The facts about a sign-in certificate that outlive the TLS connection: kept in the SSO session and turned into
 * AD FS's certificate claims (entra-protocol.md §5.3; Entra uses serialnumber and issuer for revocation of
 * federated certificate sign-ins). Plain JSON, no key material beyond the public certificate.
 */
import type { MappingMethod } from './mapping.ts';
import {
  dotnetName,
  formatKeyUsage,
  formatSubjectAltNames,
  type ParsedCertificate,
} from './x509.ts';

export interface CertificateContext {
  /** Where the certificate came from: the TLS handshake or a trusted proxy's header. */
  source: 'tls' | 'proxy';
  /** How it was mapped to the account. */
  mapping: MappingMethod;
  /** Upper-case hex, big-endian (X509Certificate2.SerialNumber). */
  serialNumber: string;
  /** X509Certificate2.Issuer form (CN first, ", " separated). */
  issuer: string;
  subject: string;
  /** SHA-1 thumbprint, upper-case hex. */
  thumbprint: string;
  notBefore: string;
  notAfter: string;
  version: number;
  signatureAlgorithm: string;
  eku: string[];
  /** Windows' one-line SAN text; empty when there is none. */
  san: string;
  keyUsage?: string | undefined;
  subjectKeyIdentifier?: string | undefined;
  authorityKeyIdentifier?: string | undefined;
  basicConstraints?: string | undefined;
  policies: string[];
  applicationPolicies: string[];
  templateName?: string | undefined;
  templateOid?: string | undefined;
  /** base64 DER. */
  rawData: string;
}

export function certificateContext(
  cert: ParsedCertificate,
  source: CertificateContext['source'],
  mapping: MappingMethod,
): CertificateContext {
  const bc = cert.basicConstraints;
  return {
    source,
    mapping,
    serialNumber: cert.serialHex,
    issuer: dotnetName(cert.issuer),
    subject: dotnetName(cert.subject),
    thumbprint: cert.thumbprintSha1,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    version: cert.version,
    signatureAlgorithm: cert.signatureAlgorithm,
    eku: cert.extendedKeyUsage ?? [],
    san: formatSubjectAltNames(cert.subjectAltNames),
    keyUsage: cert.keyUsage === undefined ? undefined : formatKeyUsage(cert.keyUsage),
    subjectKeyIdentifier: cert.subjectKeyId?.toString('hex').toUpperCase(),
    authorityKeyIdentifier: cert.authorityKeyId?.toString('hex').toUpperCase(),
    basicConstraints:
      bc === undefined
        ? undefined
        : `Subject Type=${bc.ca ? 'CA' : 'End Entity'}, Path Length Constraint=${bc.pathLength ?? 'None'}`,
    policies: cert.policies,
    applicationPolicies: cert.applicationPolicies,
    templateName: cert.templateName,
    templateOid: cert.templateOid,
    rawData: cert.der.toString('base64'),
  };
}
