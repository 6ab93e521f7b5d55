/**
 * Certificate → Active Directory account, following the KDC's strong certificate mapping (KB5014754, full
 * enforcement; [MS-PKCA] §3.1.5.2.1): the SID extension (1.3.6.1.4.1.311.25.2) names the account by objectSid;
 * otherwise an exact altSecurityIdentities value of a strong type (`X509:<I>…<SR>…`, `X509:<SKI>…`,
 * `X509:<SHA1-PUKEY>…`); the UPN in the subject alternative name (implicit mapping) only when policy allows weak
 * mapping. A certificate that names two different accounts (SID vs altSecurityIdentities vs UPN) is refused:
 * that is exactly the Certifried shape (CVE-2022-26923, security-corpus C6.7). Pure: the directory look-up happens
 * before (DirectoryProvider.findByCertificate).
 */
import { createHash } from 'node:crypto';
import type { CertificateAccount, CertificateMappingQuery } from '../../directory/types.ts';
import { altSecurityName, upnsOf, type ParsedCertificate } from './x509.ts';

export type MappingMethod = 'sid' | 'altSecurityIdentities' | 'upn';

export type MappingFailure =
  | 'sid_not_found' // the SID extension names no account
  | 'mapping_conflict' // SID extension and altSecurityIdentities name different accounts
  | 'sid_upn_conflict' // the SAN UPN names another account than the strong mapping (Certifried)
  | 'ambiguous' // several accounts claim the certificate, or several SAN UPNs
  | 'no_strong_mapping' // nothing strong, and weak mapping is off
  | 'no_mapping'; // nothing at all

export type MappingResult =
  | { ok: true; account: CertificateAccount; method: MappingMethod }
  | { ok: false; reason: MappingFailure; detail: string };

function reverseHex(bytes: Buffer): string {
  return Buffer.from(bytes).reverse().toString('hex');
}

/**
 * The strong altSecurityIdentities values that name this certificate, in the forms Windows writes them:
 * - `X509:<I>{issuer}<SR>{serial}`: issuer in encoded order, most significant RDN first, "," separated; serial
 *   number bytes reversed (CERT_INFO keeps it little-endian), lower-case hex. With and without the INTEGER's sign
 *   octet, since tools differ on it;
 * - `X509:<SKI>{subject key identifier}`;
 * - `X509:<SHA1-PUKEY>{hash}`: Microsoft's mapping guidance fills it with the certificate's SHA-1 hash (what
 *   certutil prints as "Cert Hash(sha1)") despite the name; the SHA-1 of the public key is accepted as well. Both
 *   bind one certificate or key, so both are strong.
 * AD matches altSecurityIdentities case-insensitively; so does fedgate.
 */
export function strongAltSecurityIdentities(cert: ParsedCertificate): string[] {
  const issuer = altSecurityName(cert.issuer);
  const out = new Set<string>();
  let serial = cert.serial;
  out.add(`X509:<I>${issuer}<SR>${reverseHex(serial)}`);
  while (serial.length > 1 && serial[0] === 0) serial = serial.subarray(1);
  out.add(`X509:<I>${issuer}<SR>${reverseHex(serial)}`);
  if (cert.subjectKeyId !== undefined) out.add(`X509:<SKI>${cert.subjectKeyId.toString('hex')}`);
  out.add(`X509:<SHA1-PUKEY>${cert.thumbprintSha1.toLowerCase()}`);
  out.add(`X509:<SHA1-PUKEY>${createHash('sha1').update(cert.publicKeyBits).digest('hex')}`);
  return [...out];
}

/** What to ask the directory for this certificate. */
export function mappingQuery(cert: ParsedCertificate): CertificateMappingQuery {
  return {
    sid: cert.sid,
    altSecurityIdentities: strongAltSecurityIdentities(cert),
    upns: [...new Set(upnsOf(cert).filter((u) => u.length > 0 && u.length <= 1024))],
  };
}

const same = (a: CertificateAccount, b: CertificateAccount): boolean =>
  a.user.objectGuid.equals(b.user.objectGuid);

function unique(list: CertificateAccount[]): CertificateAccount[] {
  return list.filter((a, i) => list.findIndex((b) => same(a, b)) === i);
}

export function mapCertificate(
  cert: ParsedCertificate,
  accounts: readonly CertificateAccount[],
  policy: { allowWeakUpnMapping: boolean },
): MappingResult {
  const q = mappingQuery(cert);
  const fail = (reason: MappingFailure, detail: string): MappingResult => ({
    ok: false,
    reason,
    detail,
  });
  const strong = new Set(q.altSecurityIdentities.map((v) => v.toLowerCase()));
  const upns = new Set(q.upns.map((u) => u.toLowerCase()));

  const bySid =
    q.sid === undefined
      ? []
      : unique(accounts.filter((a) => a.user.objectSid?.toUpperCase() === q.sid?.toUpperCase()));
  const byAlt = unique(
    accounts.filter((a) => a.altSecurityIdentities.some((v) => strong.has(v.trim().toLowerCase()))),
  );
  const byUpn = unique(
    accounts.filter(
      (a) =>
        a.user.userPrincipalName !== undefined && upns.has(a.user.userPrincipalName.toLowerCase()),
    ),
  );

  if (bySid.length > 1) return fail('ambiguous', 'several accounts have the SID');
  if (byAlt.length > 1) return fail('ambiguous', 'several accounts map the certificate');
  if (q.sid !== undefined && bySid.length === 0)
    // KB5014754: a certificate with the SID extension maps by that SID or not at all.
    return fail('sid_not_found', `no account has objectSid ${q.sid}`);
  const [sidAccount] = bySid;
  const [altAccount] = byAlt;
  if (sidAccount !== undefined && altAccount !== undefined && !same(sidAccount, altAccount))
    return fail(
      'mapping_conflict',
      `SID extension names ${sidAccount.user.sAMAccountName}, altSecurityIdentities ${altAccount.user.sAMAccountName}`,
    );
  const strongAccount = sidAccount ?? altAccount;
  if (strongAccount !== undefined) {
    const other = byUpn.find((a) => !same(a, strongAccount));
    if (other !== undefined)
      return fail(
        'sid_upn_conflict',
        `the certificate's UPN names ${other.user.sAMAccountName}, its strong mapping ${strongAccount.user.sAMAccountName}`,
      );
    return {
      ok: true,
      account: strongAccount,
      method: sidAccount !== undefined ? 'sid' : 'altSecurityIdentities',
    };
  }
  if (q.upns.length === 0 && byUpn.length === 0)
    return fail('no_mapping', 'no account maps the certificate');
  if (!policy.allowWeakUpnMapping)
    return fail('no_strong_mapping', 'only the SAN UPN names an account and weak mapping is off');
  if (upns.size > 1) return fail('ambiguous', 'the certificate carries several UPNs');
  if (byUpn.length !== 1) return fail('no_mapping', 'no account has the certificate UPN');
  return { ok: true, account: byUpn[0] as CertificateAccount, method: 'upn' };
}
