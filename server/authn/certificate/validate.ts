/**
 * Is this a certificate a user may sign in with (security-corpus C6.4, C6.5)? Pure checks, no network:
 * - issued directly by one of the configured issuing CAs (AD's NTAuth store: the CA that issued a logon certificate
 *   must be in it), each of which chains to a configured self-signed root; every signature on the path verified;
 * - every certificate on the path within its validity period now; CA certificates with cA=TRUE, keyCertSign and
 *   path length room; no unknown critical extension anywhere (RFC 5280 §4.2);
 * - the user certificate: an end entity, keyUsage (when present) with digitalSignature, an allowed extended key
 *   usage (Client Authentication and/or Smart Card Logon), also allowed by every CA on the path that restricts
 *   EKUs (Windows' EKU nesting), the required certificate policy, no weak signature or short RSA key.
 * Revocation is separate (revocation.ts) because it needs the network.
 */
import { Oids, type ParsedCertificate, sameName } from './x509.ts';
import { isWeakSignatureAlgorithm } from './signature.ts';

export type ValidationFailure =
  | 'malformed'
  | 'untrusted_issuer'
  | 'chain_invalid'
  | 'expired'
  | 'not_yet_valid'
  | 'not_end_entity'
  | 'key_usage'
  | 'eku'
  | 'policy'
  | 'weak_key'
  | 'unsupported_critical_extension';

export type ValidationResult =
  | { ok: true; chain: ParsedCertificate[] }
  | { ok: false; reason: ValidationFailure; detail: string };

export interface CertificatePolicy {
  /** EKU OIDs accepted on a user certificate (any one). */
  allowedEkus: readonly string[];
  allowNoEku: boolean;
  requiredPolicies: readonly string[];
  minRsaBits: number;
}

export const EKU_NAMES: Record<string, string> = {
  clientAuth: Oids.ekuClientAuth,
  smartcardLogon: Oids.ekuSmartCardLogon,
};

export function ekuOid(nameOrOid: string): string {
  return EKU_NAMES[nameOrOid] ?? nameOrOid;
}

/** Extensions fedgate understands well enough to honour when a certificate marks them critical. */
const KNOWN_EXTENSIONS = new Set<string>([
  Oids.basicConstraints,
  Oids.keyUsage,
  Oids.extKeyUsage,
  Oids.subjectAltName,
  Oids.subjectKeyId,
  Oids.authorityKeyId,
  Oids.crlDistributionPoints,
  Oids.certificatePolicies,
  Oids.authorityInfoAccess,
  Oids.ntdsCaSecurityExt,
  Oids.certTemplateName,
  Oids.certTemplateInfo,
  Oids.applicationPolicies,
]);

const MAX_PATH = 8;

function criticalUnknown(c: ParsedCertificate): string | undefined {
  return c.extensions.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.oid))?.oid;
}

function isSelfSigned(c: ParsedCertificate): boolean {
  return sameName(c.issuer, c.subject) && c.x509.verify(c.x509.publicKey);
}

/** Could `issuer` have signed `cert`: names chain, key identifiers agree when both are present, signature verifies. */
export function issuedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!sameName(cert.issuer, issuer.subject)) return false;
  if (
    cert.authorityKeyId !== undefined &&
    issuer.subjectKeyId !== undefined &&
    !cert.authorityKeyId.equals(issuer.subjectKeyId)
  )
    return false;
  try {
    return cert.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * The configured trust: issuing CAs (NTAuth) and the certificates above them. Built once at startup; throws with a
 * clear message when an issuing CA is not a CA or does not chain to a configured root.
 */
export class TrustStore {
  readonly issuing: readonly ParsedCertificate[];
  readonly #pool: readonly ParsedCertificate[];
  get all(): readonly ParsedCertificate[] {
    return this.#pool;
  }
  /** The path from each issuing CA (by sha256) up to its root, the issuing CA first. */
  readonly #paths = new Map<string, ParsedCertificate[]>();

  constructor(issuing: readonly ParsedCertificate[], others: readonly ParsedCertificate[]) {
    if (issuing.length === 0) throw new Error('no issuing CA certificates');
    this.issuing = issuing;
    this.#pool = [...issuing, ...others];
    for (const ca of issuing) {
      if (ca.basicConstraints?.ca !== true)
        throw new Error(
          `issuing CA ${ca.thumbprintSha1} is not a CA certificate (basicConstraints)`,
        );
      this.#paths.set(ca.sha256, this.#pathToRoot(ca));
    }
  }

  #pathToRoot(ca: ParsedCertificate): ParsedCertificate[] {
    const path = [ca];
    for (let cur = ca; !isSelfSigned(cur);) {
      if (path.length > MAX_PATH) throw new Error(`CA path above ${ca.thumbprintSha1} too long`);
      const parent = this.#pool.find((p) => p !== cur && issuedBy(cur, p));
      if (parent === undefined)
        throw new Error(
          `issuing CA ${ca.thumbprintSha1} does not chain to a configured root: add its issuers to caCertificates`,
        );
      path.push(parent);
      cur = parent;
    }
    return path;
  }

  /** The path above an issuing CA (itself first, root last). */
  pathFrom(ca: ParsedCertificate): readonly ParsedCertificate[] {
    return this.#paths.get(ca.sha256) ?? [ca];
  }
}

export function validateCertificate(
  leaf: ParsedCertificate,
  trust: TrustStore,
  policy: CertificatePolicy,
  now: Date,
): ValidationResult {
  const fail = (reason: ValidationFailure, detail: string): ValidationResult => ({
    ok: false,
    reason,
    detail,
  });
  if (leaf.tbsSignatureAlgorithm !== leaf.signatureAlgorithm)
    return fail('malformed', 'signature algorithm fields differ');

  // 1. Issued by an issuing CA (NTAuth), and the rest of the path from configuration.
  const issuer = trust.issuing.find((ca) => issuedBy(leaf, ca));
  if (issuer === undefined) {
    const namedIssuer = trust.issuing.some((ca) => sameName(leaf.issuer, ca.subject));
    return fail(
      'untrusted_issuer',
      namedIssuer
        ? 'signature does not verify with the issuing CA named by the certificate'
        : 'not issued by a configured issuing CA',
    );
  }
  const chain = [leaf, ...trust.pathFrom(issuer)];

  // 2. Validity of every certificate on the path.
  for (const c of chain) {
    const which = c === leaf ? 'certificate' : `CA ${c.thumbprintSha1}`;
    if (now < c.notBefore)
      return fail('not_yet_valid', `${which} valid from ${c.notBefore.toISOString()}`);
    if (now > c.notAfter) return fail('expired', `${which} expired ${c.notAfter.toISOString()}`);
    const unknown = criticalUnknown(c);
    if (unknown !== undefined)
      return fail('unsupported_critical_extension', `${which}: critical extension ${unknown}`);
  }

  // 3. CA constraints along the path (RFC 5280 §6.1.4): cA, keyCertSign, pathLenConstraint.
  for (let i = 1; i < chain.length; i++) {
    const ca = chain[i] as ParsedCertificate;
    if (ca.basicConstraints?.ca !== true)
      return fail('chain_invalid', `${ca.thumbprintSha1} is not a CA`);
    if (ca.keyUsage !== undefined && !ca.keyUsage.has('keyCertSign'))
      return fail('chain_invalid', `${ca.thumbprintSha1} may not sign certificates`);
    const below = i - 1; // intermediate CAs between this one and the leaf
    const pathLength = ca.basicConstraints.pathLength;
    if (pathLength !== undefined && below > pathLength)
      return fail('chain_invalid', `${ca.thumbprintSha1} path length exceeded`);
    if (i < chain.length - 1 && isWeakSignatureAlgorithm(ca.signatureAlgorithm))
      return fail('chain_invalid', `${ca.thumbprintSha1} has a weak signature`);
  }

  // 4. The user certificate itself.
  if (leaf.basicConstraints?.ca === true) return fail('not_end_entity', 'a CA certificate');
  if (isWeakSignatureAlgorithm(leaf.signatureAlgorithm))
    return fail('weak_key', `weak signature algorithm ${leaf.signatureAlgorithm}`);
  const details = leaf.x509.publicKey.asymmetricKeyDetails;
  if (
    leaf.x509.publicKey.asymmetricKeyType === 'rsa' &&
    (details?.modulusLength ?? 0) < policy.minRsaBits
  )
    return fail('weak_key', `RSA key of ${details?.modulusLength ?? 0} bits`);
  if (leaf.keyUsage !== undefined && !leaf.keyUsage.has('digitalSignature'))
    return fail('key_usage', 'keyUsage without digitalSignature');
  const ekus = leaf.extendedKeyUsage;
  if (ekus === undefined) {
    if (!policy.allowNoEku) return fail('eku', 'no extended key usage');
  } else {
    const allowed = ekus.filter((e) => policy.allowedEkus.includes(e));
    if (allowed.length === 0)
      return fail('eku', `extended key usages ${ekus.join(',')} allow no sign-in`);
    // EKU nesting: a CA that lists EKUs (without anyExtendedKeyUsage) limits what it may issue.
    const permitted = allowed.filter((e) =>
      chain
        .slice(1)
        .every(
          (ca) =>
            ca.extendedKeyUsage === undefined ||
            ca.extendedKeyUsage.includes(Oids.ekuAny) ||
            ca.extendedKeyUsage.includes(e),
        ),
    );
    if (permitted.length === 0)
      return fail('eku', 'an issuing CA on the path does not allow these extended key usages');
  }
  if (
    policy.requiredPolicies.length > 0 &&
    !leaf.policies.some((p) => policy.requiredPolicies.includes(p))
  )
    return fail('policy', 'none of the required certificate policies');
  return { ok: true, chain };
}
